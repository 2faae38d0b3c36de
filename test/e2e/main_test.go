// Package e2e proves the browser side end to end: headless Chromium (Debian's
// chromium, driven with chromedp) loads a fake shop page with a stand-in for
// the Omnichannel chat widget (testdata/widget-standin.js, a test fixture)
// and chattoken's client.js, behind nginx with TLS or across origins, and
// the tests check the token the widget received. The dev-mode page is driven
// the same way. Screenshots go to $CHATTOKEN_ARTIFACTS, else artifacts/.
//
// A test whose tool (chromium, nginx) is missing is skipped with a message
// naming it, or fails under CI=true (see harness.RequireTool).
package e2e

import (
	"testing"

	"github.com/chattoken/chattoken/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
