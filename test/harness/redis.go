package harness

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartRedis runs a real redis-server on a free loopback port and returns
// its URL (redis://...). It stops when the test ends.
func StartRedis(t *testing.T) string {
	t.Helper()
	return NewRedis(t).URL
}

// Redis is a real redis-server that a test can stop and start again on the
// same port, to see what an outage does. It keeps no data across a restart.
type Redis struct {
	// URL is redis://127.0.0.1:port/0.
	URL  string
	t    *testing.T
	bin  string
	port int
	cmd  *exec.Cmd
}

// NewRedis starts a redis-server on a free loopback port. It stops when the
// test ends.
func NewRedis(t *testing.T) *Redis {
	t.Helper()
	bin := RequireTool(t, "redis-server")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	r := &Redis{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), t: t, bin: bin, port: port}
	t.Cleanup(r.Stop)
	r.Start()
	return r
}

// Start runs the server (again) and waits until it accepts connections.
func (r *Redis) Start() {
	r.t.Helper()
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.t.TempDir(), "--protected-mode", "yes")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.cmd = cmd
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				close(ready)
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		r.t.Fatal("redis-server did not start within 10s")
	}
}

// Stop kills the server, as a crash would, and waits until it is gone.
func (r *Redis) Stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	_ = r.cmd.Wait()
	r.cmd = nil
}
