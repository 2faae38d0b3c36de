package deploy

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/chattoken/chattoken/test/harness"
)

// composeService is the part of a compose service these checks read; the
// rest of the file is parsed loosely, as compose itself accepts many fields.
type composeService struct {
	Image       string         `json:"image"`
	Command     any            `json:"command"`
	ReadOnly    bool           `json:"read_only"`
	User        string         `json:"user"`
	CapDrop     []string       `json:"cap_drop"`
	CapAdd      []string       `json:"cap_add"`
	Privileged  bool           `json:"privileged"`
	SecurityOpt []string       `json:"security_opt"`
	Environment map[string]any `json:"environment"`
	Volumes     []string       `json:"volumes"`
	Expose      []string       `json:"expose"`
	Healthcheck *struct {
		Test any `json:"test"`
	} `json:"healthcheck"`
	Networks any `json:"networks"`
}

type composeSpec struct {
	Services map[string]composeService `json:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `json:"subnet"`
			} `json:"config"`
		} `json:"ipam"`
	} `json:"networks"`
}

// interpolation is compose's ${NAME}, ${NAME:-default}, ${NAME-default} and
// ${NAME:?error}: checked with every variable unset, as a fresh shell has them.
var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*)|(:?\?)([^}]*))?\}`)

func interpolate(s string) string {
	return interpolation.ReplaceAllStringFunc(s, func(m string) string {
		sub := interpolation.FindStringSubmatch(m)
		if sub[2] != "" {
			return sub[3]
		}
		if sub[4] != "" {
			return "<required " + sub[1] + ">"
		}
		return ""
	})
}

func loadCompose(t *testing.T) (*composeSpec, string) {
	t.Helper()
	raw, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var c composeSpec
	if err := yaml.Unmarshal([]byte(interpolate(string(raw))), &c); err != nil {
		t.Fatalf("deploy/compose.yaml does not parse: %v", err)
	}
	return &c, string(raw)
}

func TestCompose(t *testing.T) {
	c, raw := loadCompose(t)
	for _, want := range []string{"chattoken", "nginx", "redis"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("deploy/compose.yaml has no %s service", want)
		}
	}
	if strings.Contains(raw, ":latest") {
		t.Error("deploy/compose.yaml mentions :latest")
	}
	for name, s := range c.Services {
		checkImage(t, "compose service "+name, s.Image)
		if s.Privileged || len(s.CapAdd) > 0 {
			t.Errorf("compose service %s is privileged or adds capabilities", name)
		}
	}

	s, ok := c.Services["chattoken"]
	if !ok {
		t.FailNow()
	}
	if !s.ReadOnly {
		t.Error("chattoken: read_only is not true")
	}
	if s.User != "65532:65532" && s.User != "65532" {
		t.Errorf("chattoken: user %q; want 65532:65532 (distroless nonroot)", s.User)
	}
	if !slices.Contains(s.CapDrop, "ALL") {
		t.Errorf("chattoken: cap_drop %q; want ALL", s.CapDrop)
	}
	if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("chattoken: security_opt %q lacks no-new-privileges:true", s.SecurityOpt)
	}

	// The healthcheck in exec form (no shell in distroless), running the
	// image's own binary.
	entry := dockerfileEntrypoint(t)
	var test []any
	if s.Healthcheck != nil {
		test, _ = s.Healthcheck.Test.([]any)
	}
	if len(test) < 3 || test[0] != "CMD" {
		t.Fatalf("chattoken: healthcheck test %v; want the exec form [\"CMD\", %q, \"healthcheck\"]", s.Healthcheck, entry)
	}
	if test[1] != entry || test[2] != "healthcheck" {
		t.Errorf("chattoken: healthcheck runs %v; want [%s healthcheck], the image's ENTRYPOINT", test[1:], entry)
	}

	// Variables: real ones, the key directory on a read-only mount.
	known := knownVariables()
	env := map[string]string{}
	for name, v := range s.Environment {
		checkVariable(t, known, "compose service chattoken", name)
		env[name] = fmt.Sprint(v)
	}
	keyPath := env["CHATTOKEN_SIGNING_KEY_FILE"]
	var keyMount string
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && within(keyPath, parts[1]) {
			keyMount = v
			if len(parts) < 3 || !slices.Contains(strings.Split(parts[2], ","), "ro") {
				t.Errorf("chattoken: the key volume %q is not mounted read-only (:ro)", v)
			}
		}
	}
	if keyMount == "" {
		t.Errorf("chattoken: CHATTOKEN_SIGNING_KEY_FILE %q is not inside a mounted volume", keyPath)
	}
	if port := portOfAddr(t, "CHATTOKEN_ADDR", env["CHATTOKEN_ADDR"], ":8080"); !slices.Contains(s.Expose, fmt.Sprint(port)) {
		t.Errorf("chattoken: expose %q lacks the CHATTOKEN_ADDR port %d", s.Expose, port)
	}

	// nginx: the files it mounts exist, and its address is what chattoken
	// trusts for X-Forwarded-For.
	n := c.Services["nginx"]
	for _, v := range n.Volumes {
		src, _, _ := strings.Cut(v, ":")
		if strings.HasPrefix(src, ".") {
			if _, err := os.Stat(filepath.Join(filepath.Dir(composeFile), src)); err != nil {
				t.Errorf("nginx mounts %s: %v", src, err)
			}
		}
	}
	if trusted := env["CHATTOKEN_TRUSTED_PROXIES"]; trusted != "" {
		addr := nginxAddress(t, raw)
		if !trustedContains(t, trusted, addr) {
			t.Errorf("CHATTOKEN_TRUSTED_PROXIES %q does not contain nginx's address %s", trusted, addr)
		}
	}
}

// nginxAddress is the ipv4_address the compose file gives nginx.
func nginxAddress(t *testing.T, raw string) netip.Addr {
	t.Helper()
	var doc struct {
		Services struct {
			Nginx struct {
				Networks map[string]struct {
					IPv4Address string `json:"ipv4_address"`
				} `json:"networks"`
			} `json:"nginx"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal([]byte(interpolate(raw)), &doc); err != nil {
		t.Fatal(err)
	}
	for _, n := range doc.Services.Nginx.Networks {
		if a, err := netip.ParseAddr(n.IPv4Address); err == nil {
			return a
		}
	}
	t.Fatal("nginx has no fixed ipv4_address, yet CHATTOKEN_TRUSTED_PROXIES is set")
	return netip.Addr{}
}

func trustedContains(t *testing.T, list string, a netip.Addr) bool {
	t.Helper()
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if p, err := netip.ParsePrefix(item); err == nil && p.Contains(a) {
			return true
		}
		if b, err := netip.ParseAddr(item); err == nil && b == a {
			return true
		}
	}
	return false
}

// TestComposeNginxConfig checks deploy/nginx/compose.conf with the real
// nginx: it is valid where compose mounts it (inside http{}, with
// chattoken.conf at the path compose mounts it to).
func TestComposeNginxConfig(t *testing.T) {
	c, _ := loadCompose(t)
	mounts := map[string]string{} // container path -> file in deploy/
	for _, v := range c.Services["nginx"].Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 {
			mounts[parts[1]] = filepath.Join(filepath.Dir(composeFile), parts[0])
		}
	}
	server, ok := mounts["/etc/nginx/conf.d/default.conf"]
	if !ok {
		t.Fatalf("compose does not mount a server block at /etc/nginx/conf.d/default.conf: %v", mounts)
	}
	conf, err := os.ReadFile(server)
	if err != nil {
		t.Fatal(err)
	}
	// Every include must be a file compose mounts.
	includes := regexp.MustCompile(`(?m)^\s*include\s+([^;]+);`).FindAllStringSubmatch(string(conf), -1)
	if len(includes) == 0 {
		t.Fatalf("%s includes nothing; it should include chattoken.conf", server)
	}
	sawChattoken := false
	for _, inc := range includes {
		target := strings.TrimSpace(inc[1])
		file, ok := mounts[target]
		if !ok {
			t.Errorf("%s includes %s, which compose does not mount", server, target)
		}
		sawChattoken = sawChattoken || filepath.Base(file) == "chattoken.conf"
	}
	if !sawChattoken {
		t.Errorf("%s does not include the shipped chattoken.conf", server)
	}

	nginx := harness.RequireTool(t, "nginx", "nginx", "/usr/sbin/nginx")
	// Test it as nginx would load it in the container: paths mapped to the
	// files, and the compose service name, which only Docker's DNS knows,
	// replaced by an address.
	dir := t.TempDir()
	text := string(conf)
	for target, file := range mounts {
		abs, err := filepath.Abs(file)
		if err != nil {
			t.Fatal(err)
		}
		text = strings.ReplaceAll(text, target, abs)
	}
	const service = "server chattoken:8080"
	if !strings.Contains(text, service) {
		t.Fatalf("%s no longer has %q", server, service)
	}
	text = strings.Replace(text, service, "server 127.0.0.1:8080", 1)
	if err := os.WriteFile(filepath.Join(dir, "server.conf"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	main := harness.NginxConfig(dir, fmt.Sprintf("    include %s/server.conf;\n", dir))
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(nginx, "-t", "-p", dir, "-c", path.Join(dir, "nginx.conf")).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t rejects deploy/nginx/compose.conf: %v\n%s", err, out)
	}
}
