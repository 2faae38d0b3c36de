// Package harness runs the real chattoken binary the way operators do, for
// the test suites above it: configuration in the environment, key files on
// disk, a real session upstream (an httptest server), requests over TCP, and
// the external tools the end-to-end tests need.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chattoken/chattoken/internal/testkeys"
)

// Binary is the path of the chattoken binary built by Main.
var Binary string

// Main builds the binary once for a test package, runs its tests and
// removes the build. Call it from TestMain. The binary is the default build,
// or the one of the tags in CHATTOKEN_TEST_TAGS when that is set (`make
// test-openssl` sets "openssl"), so the suites run against that build.
func Main(m *testing.M) {
	ExitIfShort()
	dir, err := os.MkdirTemp("", "chattoken-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	Binary = filepath.Join(dir, "chattoken")
	if err := build(Binary, os.Getenv("CHATTOKEN_TEST_TAGS")); err != nil {
		fmt.Fprintln(os.Stderr, "building chattoken:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// ExitIfShort ends a TestMain under -short, before anything is built: `go
// test -short ./...` is the unit layer, and the packages that call it run
// the binary in every test.
func ExitIfShort() {
	flag.Parse()
	if testing.Short() {
		fmt.Println("skipped under -short: these tests run the chattoken binary")
		os.Exit(0)
	}
}

// Build builds chattoken with tags (comma-separated; empty for the default
// build) into a directory of t's and returns the binary's path, for a test
// that compares builds.
func Build(t *testing.T, tags string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "chattoken")
	if err := build(out, tags); err != nil {
		t.Fatalf("building chattoken with tags %q: %v", tags, err)
	}
	return out
}

// build runs go build for cmd/chattoken with tags into out. A tagged build
// (openssl) needs cgo; the default one is built without, and every build
// with -trimpath, as `make build` and the Dockerfile do: the packages
// compiled for one are then reused by the others from the build cache.
func build(out, tags string) error {
	args := []string{"build", "-trimpath"}
	cgo := "CGO_ENABLED=0"
	if tags != "" {
		args = append(args, "-tags", tags)
		cgo = "CGO_ENABLED=1"
	}
	cmd := exec.Command("go", append(args, "-o", out, "github.com/chattoken/chattoken/cmd/chattoken")...)
	cmd.Env = append(os.Environ(), cgo)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// Service is one running chattoken process.
type Service struct {
	Cmd *exec.Cmd
	URL string
	// MetricsURL is the metrics listener's base URL, when it runs.
	MetricsURL string
	stderr     *LockedBuffer
	done       chan struct{}
	err        error // the process's exit, valid once done is closed
}

// LockedBuffer is a bytes.Buffer that concurrent writers (a process's
// output, a server's log) may share.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start runs the binary with exactly env (plus loopback listen addresses on
// free ports unless env sets them) and waits until it logs that it listens.
func Start(t *testing.T, env map[string]string, args ...string) *Service {
	t.Helper()
	cmd := command(context.Background(), env, args)
	pr, pw := io.Pipe()
	s := &Service{Cmd: cmd, stderr: &LockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = io.MultiWriter(s.stderr, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = cmd.Wait()
		_ = pw.Close()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
		if t.Failed() {
			t.Logf("chattoken stderr:\n%s", s.stderr.String())
		}
	})

	addr := Listening(pr, func(a string) { s.MetricsURL = "http://" + a })
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case <-s.done:
		t.Fatalf("chattoken exited before listening (%v):\n%s", s.err, s.stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("chattoken did not listen within 10s:\n%s", s.stderr.String())
	}
	return s
}

// Listening reads chattoken's JSON log from r and sends the main
// listener's address on the channel it returns once the log says
// "listening"; metrics, when not nil, is given the metrics listener's
// address first ("metrics listening"). It reads r to its end, so the
// process never blocks on a full pipe.
func Listening(r io.Reader, metrics func(addr string)) <-chan string {
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			var line struct {
				Message string `json:"message"`
				Addr    string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			if line.Message == "metrics listening" && metrics != nil {
				metrics(line.Addr)
			}
			if line.Message == "listening" {
				addr <- line.Addr
				break
			}
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	return addr
}

// command is the binary run with exactly env, plus loopback listen
// addresses on free ports unless env sets them.
func command(ctx context.Context, env map[string]string, args []string) *exec.Cmd {
	for _, v := range []string{"CHATTOKEN_ADDR", "CHATTOKEN_METRICS_ADDR"} {
		if _, ok := env[v]; !ok {
			env[v] = "127.0.0.1:0"
		}
	}
	cmd := exec.CommandContext(ctx, Binary, args...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// RequireConfigError runs the binary with env (as Start does) and expects
// what a configuration mistake gives: exit status 2 within 10s and one line
// on stderr naming wantVar, which it returns. A process still running then
// has accepted the configuration, and fails the test.
func RequireConfigError(t *testing.T, env map[string]string, wantVar string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := command(ctx, env, args)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("chattoken accepted the configuration and was still running after 10s; want exit 2 naming %s:\n%s", wantVar, stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Fatalf("exit code %d (%v), want 2 naming %s; stderr %q", code, err, wantVar, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], wantVar+": ") {
		t.Fatalf("stderr %q: want one line naming %s", stderr.String(), wantVar)
	}
	return lines[0]
}

// Logs returns the process's stderr once it contains every one of want
// (log lines are written just after the answer is sent), or after 2s.
func (s *Service) Logs(want ...string) string {
	deadline := time.Now().Add(2 * time.Second)
	for {
		out := s.stderr.String()
		missing := false
		for _, w := range want {
			if !strings.Contains(out, w) {
				missing = true
			}
		}
		if !missing || time.Now().After(deadline) {
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Wait waits for the process to exit and returns its exit code.
func (s *Service) Wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(within):
		t.Fatalf("chattoken still running after %s", within)
	}
	return s.Cmd.ProcessState.ExitCode()
}

// WriteRSAKey writes a new 2048-bit key, PKCS#8, mode 0600, and returns it
// with its path. Keys are generated per test and never committed.
func WriteRSAKey(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	key := testkeys.New()
	return key, WriteFile(t, "signing.pem", testkeys.PEM(key))
}

func WriteFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// SessionUpstream is a site's "who am I" endpoint: it maps the session
// cookie to a session document and records every request it receives.
type SessionUpstream struct {
	*httptest.Server
	mu       sync.Mutex
	sessions map[string]string // cookie value -> JSON document
	requests []*http.Request
	// hold, when set, blocks the lookup of a session until it is closed, and
	// arrived reports that the blocked request has reached the upstream.
	hold    map[string]chan struct{}
	Arrived chan string
}

func NewSessionUpstream(t *testing.T) *SessionUpstream {
	t.Helper()
	u := &SessionUpstream{
		sessions: map[string]string{},
		hold:     map[string]chan struct{}{},
		Arrived:  make(chan string, 16),
	}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(func() {
		u.mu.Lock()
		for _, c := range u.hold {
			select {
			case <-c:
			default:
				close(c)
			}
		}
		u.mu.Unlock()
		u.Close()
	})
	return u
}

func (u *SessionUpstream) serve(w http.ResponseWriter, r *http.Request) {
	cookie, _ := r.Cookie("session")
	u.mu.Lock()
	u.requests = append(u.requests, r.Clone(context.Background()))
	var value string
	if cookie != nil {
		value = cookie.Value
	}
	doc, ok := u.sessions[value]
	hold := u.hold[value]
	u.mu.Unlock()

	if hold != nil {
		u.Arrived <- value
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case value == "upstream-500":
		http.Error(w, "database down", http.StatusInternalServerError)
	case value == "upstream-hangs":
		<-r.Context().Done()
	case !ok:
		http.Redirect(w, r, "/login", http.StatusFound)
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, doc)
	}
}

func (u *SessionUpstream) AddSession(cookie, doc string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.sessions[cookie] = doc
}

// HoldSession makes lookups of cookie wait until release is called.
func (u *SessionUpstream) HoldSession(cookie string) (release func()) {
	c := make(chan struct{})
	u.mu.Lock()
	u.hold[cookie] = c
	u.mu.Unlock()
	return func() { close(c) }
}

func (u *SessionUpstream) Received() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.requests...)
}

// Do sends a request to the service with the given session cookie.
func Do(t *testing.T, method, url, cookie, contentType, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", "session="+cookie)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return Send(t, req)
}

// Send sends req to the service and reads the whole answer.
func Send(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

// RequireTool returns the path of an external tool an end-to-end test needs.
// Where it is missing the test is skipped with a message naming the tool,
// except under CI=true, where a missing tool fails the test: CI installs
// every tool, so a skip there would hide a broken setup.
func RequireTool(t *testing.T, name string, candidates ...string) string {
	t.Helper()
	if len(candidates) == 0 {
		candidates = []string{name}
	}
	for _, c := range candidates {
		if path, err := exec.LookPath(c); err == nil {
			return path
		}
	}
	MissingTool(t, name, "not found on this machine")
	return ""
}

// MissingTool skips (or, under CI=true, fails) a test that cannot run
// because name is unusable here.
func MissingTool(t *testing.T, name, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true: %s (.ci/run installs it)", name, why)
	}
	t.Skipf("skipped: %s %s; install it (see .ci/run) to run this test", name, why)
}
