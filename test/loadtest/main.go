// Command loadtest measures chattoken against its performance targets:
// the real binary, pinned to one core, driven over loopback by wrk pinned
// to another, with the reference rates (raw RSA signing in Go and in
// OpenSSL, a naive Go token server) measured in the same run, and prints a
// table with each target met or not. docs/performance.md records its latest output.
//
//	go run ./test/loadtest              # make loadtest; about 2 minutes
//	go run ./test/loadtest -d 5         # shorter runs (each wrk run ≤ 15 s)
//	go run ./test/loadtest -openssl     # also the OpenSSL build (-tags openssl)
//	go run ./test/loadtest -leak        # make loadtest-leak; ≤ 60 s of load
//	go run ./test/loadtest -only 'HS256, new'   # one scenario, on a fresh server
//
// It needs Linux with at least two CPUs, taskset (util-linux) and wrk
// (Debian package wrk); openssl, when installed, gives the OpenSSL
// reference rate. It uses loopback only, and kills every process it starts
// on every way out (including Ctrl-C).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The server's core and the load generator's.
const (
	serverCPU = "0"
	loadCPU   = "1"
)

type options struct {
	dur      time.Duration
	conns    int
	startups int
	leak     bool
	openssl  bool
	verbose  bool
	keep     bool
	wait     time.Duration
	retries  int
	// only, when set, selects the scenarios of the table to measure, each
	// on a server of its own, and nothing else.
	only *regexp.Regexp
}

func main() {
	onSignals()
	defer func() {
		r := recover()
		cleanup()
		if r != nil {
			panic(r)
		}
	}()

	opt := options{}
	secs := flag.Int("d", 10, "seconds of each wrk run (at most 15)")
	flag.IntVar(&opt.conns, "c", 32, "wrk connections")
	flag.IntVar(&opt.startups, "startups", 5, "starts timed for the startup figure (the median is reported)")
	flag.BoolVar(&opt.leak, "leak", false, "the leak check instead: 200,000 requests, memory read every 50,000")
	flag.BoolVar(&opt.openssl, "openssl", false, "also build and measure the OpenSSL build (-tags openssl); default: when the tree has it and libcrypto is installed")
	tags := flag.String("tags", "", "\"openssl\" is the same as -openssl")
	flag.BoolVar(&opt.verbose, "v", false, "print the raw output of wrk, openssl speed and the benchmarks")
	flag.BoolVar(&opt.keep, "keep", false, "keep the temporary directory (binaries, keys, the servers' logs)")
	flag.DurationVar(&opt.wait, "wait", time.Minute, "wait at most this long for both CPUs to be idle before measuring")
	flag.IntVar(&opt.retries, "retries", 2, "measure a scenario again (after -wait for an idle machine) when other processes took part of the server's core")
	only := flag.String("only", "", "measure only the table's scenarios whose name matches this regular expression (e.g. 'HS256, new session'), each on a fresh server: no references, startup, paced run or targets")
	flag.Parse()
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			fatalf("-only: %v", err)
		}
		opt.only = re
	}
	if *secs < 1 || *secs > 15 {
		fatalf("-d must be between 1 and 15 seconds")
	}
	opt.dur = time.Duration(*secs) * time.Second
	explicitOpenSSL := strings.Contains(*tags, "openssl")
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "openssl" {
			explicitOpenSSL = true
		}
	})
	if strings.Contains(*tags, "openssl") {
		opt.openssl = true
	}

	checkTools()
	root, err := moduleRoot()
	if err != nil {
		fatalf("%v", err)
	}
	if err := os.Chdir(root); err != nil {
		fatalf("%v", err)
	}
	present, buildable := opensslVariant()
	switch {
	case explicitOpenSSL && opt.openssl && !present:
		fatalf("-openssl: this tree has no files under the openssl build tag")
	case explicitOpenSSL && opt.openssl && !buildable:
		fatalf("-openssl: libcrypto's headers are not installed (apt-get install libssl-dev pkg-config)")
	case !explicitOpenSSL:
		opt.openssl = present && buildable
		if present && !buildable {
			progress("the OpenSSL build exists but libcrypto's headers are missing: measuring the default build only")
		}
	}

	dir, err := tempDir()
	if err != nil {
		fatalf("%v", err)
	}
	if opt.keep {
		keepDir(dir)
	}
	bins, err := build(dir, opt.openssl && !opt.leak)
	if err != nil {
		fatalf("building: %v", err)
	}
	rsaKey, hmacKey, err := writeKeys(dir)
	if err != nil {
		fatalf("%v", err)
	}
	upstream, stopUpstream, err := startUpstream()
	if err != nil {
		fatalf("%v", err)
	}
	defer stopUpstream()

	// From here on this process is the load generator (and the upstream):
	// its core is the load core, never the server's.
	if _, err := runChild(10*time.Second, "taskset", "-a", "-c", "-p", loadCPU, strconv.Itoa(os.Getpid())); err != nil {
		fatalf("pinning the load test to CPU %s: %v", loadCPU, err)
	}
	runtime.GOMAXPROCS(1)

	quiet := waitIdle(opt.wait)
	printMachine(opt, quiet)
	env := func(alg, key, addr string, extra ...string) []string {
		return append([]string{
			"CHATTOKEN_ADDR=" + addr,
			"CHATTOKEN_ISSUER=https://shop.example",
			"CHATTOKEN_SIGNING_ALG=" + alg,
			"CHATTOKEN_SIGNING_KEY_FILE=" + key,
			"CHATTOKEN_SESSION_MODE=introspect",
			"CHATTOKEN_INTROSPECT_URL=" + upstream,
			"CHATTOKEN_RATE_LIMIT_SUBJECT=0",
			"CHATTOKEN_METRICS_ADDR=off",
		}, extra...)
	}
	if opt.leak {
		if !runLeak(dir, bins.chattoken, env, rsaKey, hmacKey) {
			cleanup()
			os.Exit(1)
		}
		return
	}
	r := &run{opt: opt, dir: dir}
	r.measure(bins, env, rsaKey, hmacKey)
	r.report()
}

// checkTools stops with a message naming what to install when a tool the
// load test needs is missing.
func checkTools() {
	if runtime.GOOS != "linux" {
		fatalf("needs Linux (taskset, /proc)")
	}
	if runtime.NumCPU() < 2 {
		fatalf("needs at least two CPUs: one for the server, one for the load generator (this process may see %d)", runtime.NumCPU())
	}
	for _, t := range []struct{ name, pkg string }{{"taskset", "util-linux"}, {"wrk", "wrk"}, {"go", "Go"}} {
		if _, err := exec.LookPath(t.name); err != nil {
			fatalf("%s not found: install it (Debian: apt-get install %s)", t.name, t.pkg)
		}
	}
}

func moduleRoot() (string, error) {
	out, err := runChild(time.Minute, "go", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(out)
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run it inside the chattoken module")
	}
	return filepath.Dir(gomod), nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "· "+format+"\n", args...)
}

// printMachine prints what the figures were measured on.
func printMachine(opt options, quiet string) {
	model := "unknown"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	goVersion, _ := runChild(time.Minute, "go", "version")
	opensslVersion := "not installed"
	if _, err := exec.LookPath("openssl"); err == nil {
		v, _ := runChild(10*time.Second, "openssl", "version")
		opensslVersion = strings.TrimSpace(v)
	}
	mode := fmt.Sprintf("wrk -t1 -c%d -d%ds", opt.conns, int(opt.dur/time.Second))
	if opt.leak {
		mode = "leak check"
	}
	fmt.Printf("chattoken load test (%s), %s\n", mode, time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("machine: %d CPUs, %s, kernel %s\n", runtime.NumCPU(), model, strings.TrimSpace(string(kernel)))
	fmt.Printf("tools:   %s; %s; %s\n", strings.TrimSpace(goVersion), opensslVersion, wrkVersion())
	fmt.Printf("cores:   server (chattoken, naive, benchmarks, openssl speed) on CPU %s; wrk, the Go load generator and the session upstream on CPU %s\n", serverCPU, loadCPU)
	fmt.Printf("before:  %s\n\n", quiet)
}

// waitIdle waits up to limit for a second in which neither core is more
// than 10% busy (other processes: a build, a test suite), and describes
// what it saw. Figures measured on a busy machine are not comparable.
func waitIdle(limit time.Duration) string {
	deadline := time.Now().Add(limit)
	warned := false
	for {
		u := measureUsage(os.Getpid(), func() { time.Sleep(time.Second) })
		b0, b1 := u.cpu0, u.cpu1
		desc := fmt.Sprintf("CPU0 %.0f%% busy, CPU1 %.0f%% busy over 1 s", 100*b0, 100*b1)
		if b0 <= 0.10 && b1 <= 0.10 {
			return "idle (" + desc + ")"
		}
		if time.Now().After(deadline) {
			progress("WARNING: the machine is busy (%s): the figures will be noisy", desc)
			return "BUSY, other processes were running (" + desc + "): figures are not reliable"
		}
		if !warned {
			progress("waiting up to %s for the machine to be idle (%s)", limit, desc)
			warned = true
		}
	}
}

// median returns the median of ds.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// ms formats a latency in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// thousands formats a rate with a thousands separator.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
