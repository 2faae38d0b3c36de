// Package oidc tests chattoken's jwt session mode against a real OpenID
// provider that the tests start themselves: oidc-provider from the npm
// registry (provider/, pinned by package-lock.json), offline on loopback.
// Tokens come from its client-credentials grant, one client per test user,
// as JWT access tokens signed with its keys; chattoken finds those keys by
// discovery or by a JWKS URL, as an operator would configure it.
//
// The provider needs node and `npm ci --prefix test/oidc/provider`: where
// either is missing the tests are skipped with a message naming it, or fail
// under CI=true (see harness.MissingTool).
package oidc

import (
	"testing"

	"github.com/chattoken/chattoken/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
