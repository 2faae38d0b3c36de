// Package integration starts the real chattoken binary the way operators
// do (see the harness package) and checks what it answers over HTTP.
package integration

import (
	"testing"

	"github.com/chattoken/chattoken/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
