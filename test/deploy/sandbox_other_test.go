//go:build !linux

package deploy

import (
	"fmt"
	"os"
)

func sandboxMain([]string) {
	fmt.Fprintln(os.Stderr, "sandbox: only on Linux")
	os.Exit(111)
}
