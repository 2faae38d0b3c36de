// Package dist checks what `make dist` builds, the files a release publishes:
// one static binary per platform named by OS and architecture, SHA256SUMS over
// them, and a CycloneDX SBOM of the modules built into them.
package dist

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/chattoken/chattoken/test/harness"
)

const (
	repoRoot   = "../.."
	module     = "github.com/chattoken/chattoken"
	version    = "1.2.3-test"
	sbomName   = "chattoken_" + version + "_sbom.cdx.json"
	sumsName   = "SHA256SUMS"
	sbomModule = "github.com/CycloneDX/cyclonedx-go" // the generator's library, which ships the schema
)

// platforms are the release's targets, as GOOS/GOARCH.
var platforms = []string{"linux/amd64", "linux/arm64", "darwin/arm64", "windows/amd64"}

// binaryName is the release file of one platform.
func binaryName(platform string) string {
	goos, goarch, _ := strings.Cut(platform, "/")
	name := "chattoken_" + version + "_" + goos + "-" + goarch
	if goos == "windows" {
		name += ".exe"
	}
	return name
}

// TestDist runs `make dist` into a directory of its own and checks every file
// the release workflow would publish.
func TestDist(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: make dist builds the binary for four platforms")
	}
	makePath := harness.RequireTool(t, "make")
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), makePath, "-C", repoRoot, "dist", "VERSION="+version, "DIST="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make dist: %v\n%s", err, out)
	}

	want := []string{sumsName, sbomName}
	for _, p := range platforms {
		want = append(want, binaryName(p))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("make dist wrote %q, want %q", got, want)
	}

	t.Run("checksums", func(t *testing.T) { checkSums(t, dir) })
	linked := map[string]map[string]string{}
	for _, p := range platforms {
		t.Run(p, func(t *testing.T) { linked[p] = checkBinary(t, filepath.Join(dir, binaryName(p)), p) })
	}
	t.Run("sbom", func(t *testing.T) { checkSBOM(t, filepath.Join(dir, sbomName), linked) })
	t.Run("version", func(t *testing.T) {
		host := runtime.GOOS + "/" + runtime.GOARCH
		if !slices.Contains(platforms, host) {
			t.Skipf("no release binary for this machine (%s) to run", host)
		}
		out, err := exec.CommandContext(t.Context(), filepath.Join(dir, binaryName(host)), "version").Output()
		if err != nil {
			t.Fatalf("%s version: %v", binaryName(host), err)
		}
		if !strings.HasPrefix(string(out), "chattoken "+version+" (") {
			t.Errorf("%s version printed %q, want chattoken %s (...)", binaryName(host), out, version)
		}
	})
}

// sumLine is a line of sha256sum's output: the hash, then a space and a
// space (text mode) or an asterisk (binary mode), then the file name.
var sumLine = regexp.MustCompile(`^([0-9a-f]{64}) [ *](.+)$`)

// checkSums holds SHA256SUMS to the hashes of the files themselves: it lists
// every other file of the release once, and nothing else.
func checkSums(t *testing.T, dir string) {
	data, err := os.ReadFile(filepath.Join(dir, sumsName))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		m := sumLine.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("%s: not a sha256sum line: %q", sumsName, sc.Text())
		}
		if _, dup := listed[m[2]]; dup {
			t.Errorf("%s lists %s twice", sumsName, m[2])
		}
		listed[m[2]] = m[1]
	}
	want := []string{sbomName}
	for _, p := range platforms {
		want = append(want, binaryName(p))
	}
	for _, name := range want {
		file, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(file)
		switch got, ok := listed[name]; {
		case !ok:
			t.Errorf("%s does not list %s", sumsName, name)
		case got != hex.EncodeToString(sum[:]):
			t.Errorf("%s gives %s for %s, whose SHA-256 is %x", sumsName, got, name, sum)
		}
		delete(listed, name)
	}
	for name := range listed {
		t.Errorf("%s lists %s, which is not a release file", sumsName, name)
	}
}

// checkBinary checks that the binary at path was built for platform the way
// `make build` builds (no cgo, -trimpath, the version stamped), that a Linux
// one is stripped and needs no dynamic loader or shared library, and returns
// the modules it links (path to version).
func checkBinary(t *testing.T, path, platform string) map[string]string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Build info leaves out -ldflags under -trimpath, so the version set by
	// -X is looked for in the binary itself.
	if !bytes.Contains(data, []byte(version)) {
		t.Errorf("does not hold the version %s (-X main.version)", version)
	}
	info, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != module+"/cmd/chattoken" {
		t.Errorf("built from %s, want %s/cmd/chattoken", info.Path, module)
	}
	goos, goarch, _ := strings.Cut(platform, "/")
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for key, want := range map[string]string{"GOOS": goos, "GOARCH": goarch, "CGO_ENABLED": "0", "-trimpath": "true"} {
		if settings[key] != want {
			t.Errorf("build setting %s = %q, want %q", key, settings[key], want)
		}
	}

	if goos == "linux" {
		f, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for _, sec := range f.Sections {
			if sec.Name == ".symtab" || strings.HasPrefix(sec.Name, ".debug_") || strings.HasPrefix(sec.Name, ".zdebug_") {
				t.Errorf("has a %s section: not stripped (-s -w)", sec.Name)
			}
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Error("has a program interpreter (PT_INTERP): not a static binary")
			}
		}
		if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
			t.Errorf("needs shared libraries %q (%v): not a static binary", libs, err)
		}
	}

	deps := map[string]string{}
	for _, d := range info.Deps {
		deps[d.Path] = d.Version
	}
	return deps
}

// bom holds the parts of a CycloneDX document this test reads.
type bom struct {
	BOMFormat string `json:"bomFormat"`
	Metadata  struct {
		Component struct {
			Name string `json:"name"`
		} `json:"component"`
	} `json:"metadata"`
	Components []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		PURL    string `json:"purl"`
	} `json:"components"`
}

// checkSBOM validates the SBOM against the CycloneDX JSON schema of its spec
// version and checks that it describes chattoken: the module itself, and as
// components exactly the modules the linux/amd64 binary links, which include
// those of every other platform.
func checkSBOM(t *testing.T, path string, linked map[string]map[string]string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	validateCycloneDX(t, data)

	var doc bom
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.BOMFormat != "CycloneDX" || doc.Metadata.Component.Name != module {
		t.Errorf("bomFormat %q describing %q, want CycloneDX describing %s", doc.BOMFormat, doc.Metadata.Component.Name, module)
	}
	components := map[string]string{}
	for _, c := range doc.Components {
		components[c.Name] = c.Version
		if want := "pkg:golang/" + c.Name + "@" + c.Version; !strings.HasPrefix(c.PURL, want) {
			t.Errorf("component %s has purl %q, want %s...", c.Name, c.PURL, want)
		}
	}
	image := linked["linux/amd64"]
	if len(image) == 0 {
		t.Fatal("no modules read from the linux/amd64 binary")
	}
	for _, p := range platforms {
		for path, v := range linked[p] {
			if components[path] != v {
				t.Errorf("%s links %s %s; the SBOM has %q", p, path, v, components[path])
			}
		}
	}
	for path, v := range components {
		if image[path] != v {
			t.Errorf("the SBOM lists %s %s, which the linux/amd64 binary does not link", path, v)
		}
	}
}

// validateCycloneDX validates doc against the CycloneDX schema shipped by the
// library the SBOM generator writes with (tools/go.mod), so the schema is the
// one of the spec versions that generator knows.
func validateCycloneDX(t *testing.T, doc []byte) {
	var head struct {
		SpecVersion string `json:"specVersion"`
	}
	if err := json.Unmarshal(doc, &head); err != nil || head.SpecVersion == "" {
		t.Fatalf("not a CycloneDX JSON document (no specVersion): %v", err)
	}
	cmd := exec.CommandContext(t.Context(), "go", "list", "-modfile=tools/go.mod", "-m", "-f", "{{.Dir}}", sbomModule)
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("finding %s in the module cache: %v %s", sbomModule, err, out)
	}
	schemas := filepath.Join(string(bytes.TrimSpace(out)), "schema")

	// The BOM schema refers to the SPDX license list and to JSF signatures
	// by URLs next to its own, under which they are added here.
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const base = "http://cyclonedx.org/schema/"
	for url, file := range map[string]string{
		base + "bom-" + head.SpecVersion + ".schema.json": "bom-" + head.SpecVersion + ".schema.json",
		base + "spdx.schema.json":                         "spdx.schema.json",
		base + "jsf-0.82.schema.json":                     "jsf-0.82.schemax.json",
	} {
		f, err := os.Open(filepath.Join(schemas, file))
		if err != nil {
			t.Fatalf("the schema of CycloneDX %s: %v", head.SpecVersion, err)
		}
		schema, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if err := c.AddResource(url, schema); err != nil {
			t.Fatal(err)
		}
	}
	sch, err := c.Compile(base + "bom-" + head.SpecVersion + ".schema.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("the SBOM is not valid CycloneDX %s: %v", head.SpecVersion, err)
	}
}
