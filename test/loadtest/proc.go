package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Every child process is started in its own process group and registered
// here, so that cleanup can kill it (and anything it started) on every way
// out: normal end, a fatal error, a panic in main, SIGINT, SIGTERM.
var children = struct {
	mu    sync.Mutex
	procs map[int]*exec.Cmd
	dirs  []string
	keep  map[string]bool
	done  bool
}{procs: map[int]*exec.Cmd{}, keep: map[string]bool{}}

// keepDir leaves dir in place at cleanup.
func keepDir(dir string) {
	children.mu.Lock()
	children.keep[dir] = true
	children.mu.Unlock()
	fmt.Fprintf(os.Stderr, "· keeping %s\n", dir)
}

func prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// startChild starts cmd and registers it for cleanup.
func startChild(cmd *exec.Cmd) error {
	prepare(cmd)
	children.mu.Lock()
	defer children.mu.Unlock()
	if children.done {
		return errors.New("shutting down")
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	children.procs[cmd.Process.Pid] = cmd
	return nil
}

// forget removes a child that has been waited for.
func forget(cmd *exec.Cmd) {
	children.mu.Lock()
	defer children.mu.Unlock()
	if cmd.Process != nil {
		delete(children.procs, cmd.Process.Pid)
	}
}

// runChild runs cmd to completion within timeout and returns its combined
// output.
func runChild(timeout time.Duration, name string, args ...string) (string, error) {
	return runChildEnv(timeout, nil, name, args...)
}

// runChildEnv is runChild with env added to this process's environment.
func runChildEnv(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	out, _, err := runChildCPU(timeout, env, name, args...)
	return out, err
}

// runChildCPU is runChildEnv that also returns the CPU time the child used.
func runChildCPU(timeout time.Duration, env []string, name string, args ...string) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// On timeout kill the whole group, not only the process.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := startChild(cmd); err != nil {
		return "", 0, err
	}
	err := cmd.Wait()
	forget(cmd)
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if ctx.Err() != nil {
		return out.String(), cpu, fmt.Errorf("%s: killed after %s", name, timeout)
	}
	if err != nil {
		return out.String(), cpu, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), cpu, nil
}

// runPinned runs a command pinned to the server's core and reports how
// that core was used meanwhile (the command standing for the server).
func runPinned(timeout time.Duration, name string, args ...string) (string, usage, error) {
	var out string
	var cpu time.Duration
	var err error
	start := time.Now()
	u := measureUsage(os.Getpid(), func() {
		out, cpu, err = runChildCPU(timeout, nil, "taskset", append([]string{"-c", serverCPU, name}, args...)...)
	})
	u.server = float64(cpu) / float64(time.Since(start))
	return out, u, err
}

// cleanup kills every child still running and removes the temporary
// directories. It is safe to call more than once.
func cleanup() {
	children.mu.Lock()
	defer children.mu.Unlock()
	children.done = true
	for pid := range children.procs {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	children.procs = map[int]*exec.Cmd{}
	for _, d := range children.dirs {
		if !children.keep[d] {
			_ = os.RemoveAll(d)
		}
	}
	children.dirs = nil
}

func tempDir() (string, error) {
	d, err := os.MkdirTemp("", "chattoken-loadtest-")
	if err != nil {
		return "", err
	}
	children.mu.Lock()
	children.dirs = append(children.dirs, d)
	children.mu.Unlock()
	return d, nil
}

// onSignals cleans up and exits on SIGINT, SIGTERM or SIGHUP.
func onSignals() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-c
		fmt.Fprintf(os.Stderr, "\nloadtest: %v: stopping the child processes\n", s)
		cleanup()
		os.Exit(130)
	}()
}

// fatalf cleans up and exits 1.
func fatalf(format string, args ...any) {
	cleanup()
	fmt.Fprintf(os.Stderr, "loadtest: "+format+"\n", args...)
	os.Exit(1)
}

// server is one running server process (chattoken or the naive one).
type server struct {
	name string
	cmd  *exec.Cmd
	url  string // http://127.0.0.1:port
	log  string // its stderr
	done chan struct{}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startServer runs argv pinned to cpu with env (nothing inherited but
// PATH), logging to a file in dir, and waits until GET /healthz answers
// 200. It returns the time from exec to that first 200.
func startServer(dir, name, cpu string, env []string, addr string, argv ...string) (*server, time.Duration, error) {
	logPath := filepath.Join(dir, name+"."+strconv.FormatInt(time.Now().UnixNano(), 36)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, 0, err
	}
	defer logFile.Close()
	cmd := exec.Command("taskset", append([]string{"-c", cpu}, argv...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	s := &server{name: name, cmd: cmd, url: "http://" + addr, log: logPath, done: make(chan struct{})}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	if err := startChild(cmd); err != nil {
		return nil, 0, err
	}
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := start.Add(10 * time.Second)
	for {
		resp, err := client.Get(s.url + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, time.Since(start), nil
			}
		}
		select {
		case <-s.done:
			out, _ := os.ReadFile(logPath)
			forget(cmd)
			return nil, 0, fmt.Errorf("%s exited before serving:\n%s", name, tail(string(out), 20))
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			out, _ := os.ReadFile(logPath)
			return nil, 0, fmt.Errorf("%s did not answer /healthz within 10s:\n%s", name, tail(string(out), 20))
		}
		time.Sleep(500 * time.Microsecond)
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop kills the server and waits for it.
func (s *server) stop() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	forget(s.cmd)
}

// cpuTime returns the CPU time (user + system) pid has used so far.
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count from after it.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports here.
const clockTicks = 100

// errorsLogged counts the server's log lines at error level, leaving out
// the requests that wrk abandons when a run ends (their context is
// canceled: chattoken logs them as a 503).
func (s *server) errorsLogged() int {
	data, err := os.ReadFile(s.log)
	if err != nil {
		return 0
	}
	n := 0
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if bytes.Contains(line, []byte(`"level":"error"`)) && !bytes.Contains(line, []byte("context canceled")) {
			n++
		}
	}
	return n
}

// memory reads VmRSS and VmHWM of pid, in bytes.
func memory(pid int) (rss, hwm int64) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1, -1
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch name {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			hwm = n << 10
		}
	}
	return rss, hwm
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// jiffies are one CPU's counters from /proc/stat.
type jiffies struct{ busy, softirq, total uint64 }

// cpuTimes reads the per-CPU counters from /proc/stat.
func cpuTimes() map[string]jiffies {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	out := map[string]jiffies{}
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var j jiffies
		var idle uint64
		// user nice system idle iowait irq softirq steal (guest time is
		// already counted in user).
		for i, v := range f[1:min(len(f), 9)] {
			n, _ := strconv.ParseUint(v, 10, 64)
			j.total += n
			switch i {
			case 3, 4:
				idle += n
			case 6:
				j.softirq = n
			}
		}
		j.busy = j.total - idle
		out[f[0]] = j
	}
	return out
}

// busy returns the share of time cpu was busy between two cpuTimes.
func busy(before, after map[string]jiffies, cpu string) float64 {
	b, a := before[cpu], after[cpu]
	if a.total <= b.total {
		return 0
	}
	return float64(a.busy-b.busy) / float64(a.total-b.total)
}

// usage says who used the two cores while something was measured.
type usage struct {
	cpu0, cpu1 float64 // busy share of each core
	softirq0   float64 // of which CPU 0's network (softirq) processing
	server     float64 // the server process's CPU time over wall time
}

// others is the share of the server's core that went to other processes.
// The kernel's network processing (softirq) for the server's sockets is
// charged to the server's own CPU time when it runs in its context (server
// + softirq then exceed the core's busy time), and is not otherwise.
func (u usage) others() float64 {
	if u.server+u.softirq0 > u.cpu0+0.02 {
		return max(u.cpu0-u.server, 0)
	}
	return max(u.cpu0-u.server-u.softirq0, 0)
}

// measureUsage runs f and reports how the cores were used meanwhile.
func measureUsage(pid int, f func()) usage {
	before, cpuBefore, start := cpuTimes(), cpuTime(pid), time.Now()
	f()
	after, cpuAfter, wall := cpuTimes(), cpuTime(pid), time.Since(start)
	u := usage{
		cpu0:   busy(before, after, "cpu"+serverCPU),
		cpu1:   busy(before, after, "cpu"+loadCPU),
		server: float64(cpuAfter-cpuBefore) / float64(wall),
	}
	if b, a := before["cpu"+serverCPU], after["cpu"+serverCPU]; a.total > b.total {
		u.softirq0 = float64(a.softirq-b.softirq) / float64(a.total-b.total)
	}
	return u
}
