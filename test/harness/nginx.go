package harness

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Nginx is a running nginx started by StartNginx.
type Nginx struct {
	Port int
	dir  string
	log  *LockedBuffer
}

// Log returns what nginx wrote to its error log so far.
func (n *Nginx) Log() string { return n.log.String() }

// AccessLog returns nginx's access log (written to dir/access.log).
func (n *Nginx) AccessLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "access.log"))
	return string(b)
}

// StartNginx runs Debian's nginx in dir on a free loopback port with http(port)
// as the body of its http{} block, waits until ready(port) reports true (at
// most 10 s), and stops it when the test ends. Everything around that body
// is the same for every test: in the foreground, one worker, its pid file,
// access log and temporary files in dir, so nginx needs no privilege and
// touches nothing of the machine's own nginx.
func StartNginx(t *testing.T, dir string, http func(port int) string, ready func(port int) bool) *Nginx {
	t.Helper()
	bin := RequireTool(t, "nginx", "nginx", "/usr/sbin/nginx")
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The port is picked free and then handed to nginx: another process can
	// take it in between, so try a few times.
	for attempt := 0; ; attempt++ {
		port := FreePort(t)
		conf := NginxConfig(dir, http(port))
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		n := &Nginx{Port: port, dir: dir, log: &LockedBuffer{}}
		cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", "stderr")
		cmd.Stdout, cmd.Stderr = n.log, n.log
		// Its own process group, so the workers go with the master.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			MissingTool(t, "nginx", "cannot start: "+err.Error())
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if waitNginx(port, ready, exited) {
			t.Cleanup(func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(5 * time.Second):
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					<-exited
				}
				if t.Failed() {
					t.Logf("nginx log:\n%s\nnginx access log:\n%s", n.Log(), n.AccessLog())
				}
			})
			return n
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if strings.Contains(n.Log(), "Address already in use") && attempt < 3 {
			continue
		}
		t.Fatalf("nginx did not come up on port %d:\n%s\nconfig:\n%s", port, n.Log(), conf)
	}
}

func waitNginx(port int, ready func(int) bool, exited <-chan error) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if ready(port) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Answers200 reports whether GET url answers 200 with client.
func Answers200(client *http.Client, url string) bool {
	resp, err := client.Get(url)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// ShippedSnippets prepares deploy/nginx's snippets for a test's nginx in
// dir, as an operator would use them: it returns the absolute path of the
// location block, included as is, and writes dir/upstream.conf, the shipped
// upstream block pointed at chattoken (host:port). It is called from a
// package under test/, whose working directory is two levels below the
// repository.
func ShippedSnippets(t *testing.T, dir, chattoken string) (location string) {
	t.Helper()
	location, err := filepath.Abs("../../deploy/nginx/chattoken.conf")
	if err != nil {
		t.Fatal(err)
	}
	upstream, err := os.ReadFile("../../deploy/nginx/upstream.conf")
	if err != nil {
		t.Fatal(err)
	}
	const shipped = "server 127.0.0.1:8080"
	if !bytes.Contains(upstream, []byte(shipped)) {
		t.Fatalf("deploy/nginx/upstream.conf no longer has %q to point at the test's chattoken:\n%s", shipped, upstream)
	}
	upstream = bytes.Replace(upstream, []byte(shipped), []byte("server "+chattoken), 1)
	if err := os.WriteFile(filepath.Join(dir, "upstream.conf"), upstream, 0o644); err != nil {
		t.Fatal(err)
	}
	return location
}

// NginxConfig is the whole configuration StartNginx gives nginx around
// body, the http{} block's contents; dir must hold a tmp directory.
func NginxConfig(dir, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "daemon off;\nworker_processes 1;\npid %[1]s/nginx.pid;\nerror_log stderr notice;\n"+
		"events { worker_connections 256; }\nhttp {\n    access_log %[1]s/access.log;\n", dir)
	for _, p := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "    %s_temp_path %s/tmp/%s;\n", p, dir, p)
	}
	b.WriteString(body)
	b.WriteString("}\n")
	return b.String()
}
