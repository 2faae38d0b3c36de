package deploy

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd, args string
}

func readDockerfile(t *testing.T) []instruction {
	t.Helper()
	raw, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	for line := range strings.SplitSeq(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// finalStage is the instructions from the last FROM on, and the ARG defaults
// declared before the first FROM.
func finalStage(t *testing.T) (stage []instruction, all []instruction, globalArgs map[string]string) {
	t.Helper()
	all = readDockerfile(t)
	globalArgs = map[string]string{}
	last := -1
	for i, in := range all {
		if in.cmd == "FROM" {
			last = i
		}
		if in.cmd == "ARG" && !slices.ContainsFunc(all[:i], func(x instruction) bool { return x.cmd == "FROM" }) {
			name, def, _ := strings.Cut(in.args, "=")
			globalArgs[name] = def
		}
	}
	if last < 0 {
		t.Fatal("the Dockerfile has no FROM")
	}
	return all[last:], all, globalArgs
}

// execForm parses an instruction's JSON-array (exec) form.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(in.args), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("%s %s is not in exec form (a JSON array): distroless has no shell", in.cmd, in.args)
	}
	return argv
}

// dockerfileEntrypoint is the binary the image runs.
func dockerfileEntrypoint(t *testing.T) string {
	t.Helper()
	stage, _, _ := finalStage(t)
	for _, in := range stage {
		if in.cmd == "ENTRYPOINT" {
			return execForm(t, in)[0]
		}
	}
	t.Fatal("the final stage has no ENTRYPOINT")
	return ""
}

func TestDockerfile(t *testing.T) {
	stage, all, args := finalStage(t)
	k := loadKube(t)
	c := k.container(t)

	substitute := regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)
	var build string
	for _, in := range all {
		switch in.cmd {
		case "FROM":
			fields := strings.Fields(in.args)
			var image string
			for _, f := range fields {
				if !strings.HasPrefix(f, "--") {
					image = f
					break
				}
			}
			image = substitute.ReplaceAllStringFunc(image, func(m string) string {
				return args[substitute.FindStringSubmatch(m)[1]]
			})
			checkImage(t, "Dockerfile FROM", image)
			if strings.HasPrefix(image, "golang:") {
				if want := "golang:" + goModVersion(t); !strings.HasPrefix(image, want) {
					t.Errorf("the build stage uses %s; go.mod asks for %s", image, want)
				}
			}
		case "RUN":
			if strings.Contains(in.args, "go build") {
				build = in.args
			}
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version="} {
		if !strings.Contains(build, want) {
			t.Errorf("the go build step %q lacks %s", build, want)
		}
	}

	from := strings.Fields(stage[0].args)
	base := from[len(from)-1]
	if !strings.HasPrefix(base, "gcr.io/distroless/static") || !strings.Contains(base, ":nonroot") {
		t.Errorf("the final image is %s; want gcr.io/distroless/static-debian12:nonroot (static binary, no shell, nonroot)", base)
	}

	var entry, health, cmd []string
	var user string
	exposed := map[string]bool{}
	var copied []string
	for _, in := range stage {
		switch in.cmd {
		case "ENTRYPOINT":
			entry = execForm(t, in)
		case "CMD":
			cmd = execForm(t, in)
		case "HEALTHCHECK":
			i := strings.Index(in.args, "CMD ")
			if i < 0 {
				t.Fatalf("HEALTHCHECK %s has no CMD", in.args)
			}
			health = execForm(t, instruction{"HEALTHCHECK CMD", in.args[i+4:]})
		case "USER":
			user = in.args
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				exposed[strings.TrimSuffix(p, "/tcp")] = true
			}
		case "COPY":
			f := strings.Fields(in.args)
			copied = append(copied, f[len(f)-1])
		}
	}
	if len(entry) == 0 || !slices.Contains(copied, entry[0]) {
		t.Errorf("ENTRYPOINT %q does not run the copied binary %q", entry, copied)
	}
	if len(health) < 2 || len(entry) == 0 || health[0] != entry[0] || health[1] != "healthcheck" {
		t.Errorf("HEALTHCHECK runs %q; want [%s healthcheck]", health, dockerfileEntrypoint(t))
	}
	if !slices.Equal(cmd, c.Args) {
		t.Errorf("CMD %q and the Deployment's args %q differ", cmd, c.Args)
	}
	uid, gid, _ := strings.Cut(user, ":")
	wantUID, wantGID := effectiveIDs(k.deployment.Spec.Template.Spec, c)
	if uid != strconv.FormatInt(wantUID, 10) || (gid != "" && gid != strconv.FormatInt(wantGID, 10)) {
		t.Errorf("USER %q; want the numeric %d:%d of the Deployment (numeric, so runAsNonRoot can verify it)", user, wantUID, wantGID)
	}
	for _, p := range c.Ports {
		if !exposed[strconv.Itoa(int(p.ContainerPort))] {
			t.Errorf("the Dockerfile does not EXPOSE the container port %s (%d)", p.Name, p.ContainerPort)
		}
	}
}

func goModVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)`).FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return m[1]
}

// dockerignore is a .dockerignore: Docker's rules, as far as this project's
// file uses them (the last matching pattern decides; a pattern matching a
// parent directory matches everything below; ! re-includes; ** spans
// directories).
type dockerignore []struct {
	re      *regexp.Regexp
	exclude bool
}

func readDockerignore(t *testing.T) dockerignore {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var d dockerignore
	for line := range strings.SplitSeq(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		exclude := true
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			line, exclude = rest, false
		}
		line = strings.TrimPrefix(filepath.Clean(line), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch {
			case strings.HasPrefix(line[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(line[i:], "**"):
				re.WriteString(".*")
				i++
			case line[i] == '*':
				re.WriteString("[^/]*")
			case line[i] == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(line[i : i+1]))
			}
		}
		re.WriteString("$")
		d = append(d, struct {
			re      *regexp.Regexp
			exclude bool
		}{regexp.MustCompile(re.String()), exclude})
	}
	return d
}

// sent reports whether the file at the repository-relative path p is in the
// build context.
func (d dockerignore) sent(p string) bool {
	excluded := false
	for _, pat := range d {
		// The path or any of its parent directories.
		for q := p; ; q = filepath.Dir(q) {
			if pat.re.MatchString(q) {
				excluded = pat.exclude
				break
			}
			if !strings.Contains(q, "/") {
				break
			}
		}
	}
	return !excluded
}

// TestDockerignore checks that the build context holds every file the image's
// go build reads (the module's packages of cmd/chattoken, their embedded
// files, go.mod and go.sum) and never a key, the repository or local builds.
func TestDockerignore(t *testing.T) {
	d := readDockerignore(t)
	out, err := exec.Command("go", "list", "-deps", "-json", "github.com/chattoken/chattoken/cmd/chattoken").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var pkg struct {
			Dir        string
			Module     *struct{ Path string }
			GoFiles    []string
			EmbedFiles []string
		}
		if err := dec.Decode(&pkg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if pkg.Module == nil || pkg.Module.Path != "github.com/chattoken/chattoken" {
			continue
		}
		rel, err := filepath.Rel(root, pkg.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range slices.Concat(pkg.GoFiles, pkg.EmbedFiles) {
			needed = append(needed, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if len(needed) < 10 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, f := range needed {
		if !d.sent(f) {
			t.Errorf(".dockerignore leaves out %s, which the image's go build needs", f)
		}
	}
	for _, f := range []string{
		".git/config", "keys/20261123T164500Z.pem", "deploy/keys/x.pem", "internal/keys/testdata/k.pem",
		"bin/chattoken", "internal/keys/keys_test.go", "test/e2e/artifacts/x.png", "deploy/compose.yaml",
	} {
		if d.sent(f) {
			t.Errorf(".dockerignore sends %s into the build context", f)
		}
	}
}
