// Package verifiers checks the tokens of the real chattoken binary with JWT
// implementations that are not ours: jose from the npm registry (node/),
// PyJWT from Debian's python3-jwt (python/) and the openssl command line.
// The service signs with golang-jwt and our other tests verify with it too,
// so a mistake on both sides (an encoding, a claim's type, the kid) would
// pass them; here it cannot.
//
// Each verifier needs a tool the machine may lack: its test is skipped with
// a message naming the tool, or fails under CI=true (see harness.MissingTool).
package verifiers

import (
	"testing"

	"github.com/chattoken/chattoken/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
