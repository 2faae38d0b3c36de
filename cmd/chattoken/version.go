package main

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"

	"github.com/chattoken/chattoken/internal/keys"
)

// version is set at build time (-ldflags "-X main.version=v1.2.3"); without
// it the module version or VCS revision from the build info is shown.
var version = ""

func runVersion(_ context.Context, args []string, env environment) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if helped, err := parseFlags(fs, args, env, 0); helped || err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, "chattoken", versionString())
	return nil
}

func versionString() string {
	info, ok := debug.ReadBuildInfo()
	v := version
	if v == "" && ok {
		v = info.Main.Version
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && (v == "" || v == "(devel)") {
				v = "devel-" + s.Value[:min(12, len(s.Value))]
			}
		}
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	goVersion := "unknown"
	if ok {
		goVersion = info.GoVersion
	}
	return v + " (" + goVersion + ", RS256 signer: " + keys.RS256Signer + ")"
}
