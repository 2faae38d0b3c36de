package deploy

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// configurationDoc is the reference of every variable.
const configurationDoc = repoRoot + "/docs/configuration.md"

// documentedRow matches a table row of configurationDoc that documents one
// variable: | `CHATTOKEN_X` | default | meaning |.
var documentedRow = regexp.MustCompile("(?m)^\\| `(CHATTOKEN_[A-Z0-9_]+)` \\|")

// TestConfigurationDocListsEveryVariable keeps docs/configuration.md and
// config.Config in step: every variable chattoken reads has a row there, and
// every row names a variable chattoken reads. The manifests' variables are
// checked against the same set (checkVariable), so each of them is
// documented too.
func TestConfigurationDocListsEveryVariable(t *testing.T) {
	data, err := os.ReadFile(configurationDoc)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range documentedRow.FindAllStringSubmatch(string(data), -1) {
		if documented[m[1]] {
			t.Errorf("%s documents %s twice", configurationDoc, m[1])
		}
		documented[m[1]] = true
	}
	known := knownVariables()
	var missing, unknown []string
	for _, name := range sortedKeys(known) {
		if !documented[name] {
			missing = append(missing, name)
		}
	}
	for _, name := range sortedKeys(documented) {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s has no row for %s", configurationDoc, strings.Join(missing, ", "))
	}
	if len(unknown) > 0 {
		t.Errorf("%s documents %s, which chattoken does not read", configurationDoc, strings.Join(unknown, ", "))
	}
}
