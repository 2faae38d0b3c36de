package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// RequireNPMPackage checks that the npm package pkg is installed in dir (a
// folder with a package-lock.json, installed by `npm ci --prefix dir`) at the
// version its lock file pins, and returns that version. Otherwise the test is
// skipped, or failed under CI=true: a missing or stale node_modules would
// test another version than the one pinned.
func RequireNPMPackage(t *testing.T, dir, pkg string) string {
	t.Helper()
	fix := "run npm ci --prefix " + dir
	var installed struct{ Version string }
	if err := readJSON(filepath.Join(dir, "node_modules", pkg, "package.json"), &installed); err != nil || installed.Version == "" {
		MissingTool(t, pkg+" (npm)", "is not installed: "+fix)
	}
	var lock struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	if err := readJSON(filepath.Join(dir, "package-lock.json"), &lock); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	pinned := lock.Packages["node_modules/"+pkg].Version
	if pinned == "" {
		t.Fatalf("%s/package-lock.json pins no %s", dir, pkg)
	}
	if installed.Version != pinned {
		MissingTool(t, pkg+" (npm)", fmt.Sprintf("is %s in node_modules but package-lock.json pins %s: %s", installed.Version, pinned, fix))
	}
	return pinned
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}
