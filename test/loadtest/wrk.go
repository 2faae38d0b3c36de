package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// reusedLua rotates through the 1,000 reused sessions: cookie s=1..1000.
const reusedLua = `-- 1,000 sessions, each asking again in turn: cookie s=1..1000.
local i = 0
request = function()
  i = i % 1000 + 1
  return wrk.format("GET", "/token", {["Cookie"] = "s=" .. i})
end
`

// newLua gives every request a session of its own: a per-thread counter
// behind a prefix random to this run, so a cookie (and so a subject) never
// repeats, within the run or across runs against the same server.
const newLua = `-- A new session, with its own subject, on every request.
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/token", {["Cookie"] = "s=%s-" .. tid .. "-" .. n})
end
`

// writeScripts writes the two wrk scripts into dir.
func writeScripts(dir string) (reused, fresh string, err error) {
	reused = filepath.Join(dir, "reused.lua")
	fresh = filepath.Join(dir, "new.lua")
	if err = os.WriteFile(reused, []byte(reusedLua), 0o644); err != nil {
		return "", "", err
	}
	err = os.WriteFile(fresh, []byte(fmt.Sprintf(newLua, randomHex(8))), 0o644)
	return reused, fresh, err
}

// wrkResult is what wrk's --latency output says.
type wrkResult struct {
	ReqPerSec  float64
	P50, P99   time.Duration
	Requests   int64
	Non2xx     int64
	SocketErrs int64
	Raw        string
}

// runWrk drives url for dur with conns connections from one thread pinned
// to cpu, with script.
func runWrk(cpu, url, script string, conns int, dur time.Duration) (wrkResult, error) {
	out, err := runChild(dur+20*time.Second, "taskset", "-c", cpu, "wrk",
		"-t1", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(dur/time.Second))+"s",
		"--latency", "-s", script, url+"/token")
	if err != nil {
		return wrkResult{Raw: out}, err
	}
	return parseWrk(out)
}

var (
	wrkReqPerSec = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkPercent   = regexp.MustCompile(`(?m)^\s+(50|75|90|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkRequests  = regexp.MustCompile(`(?m)^\s+([0-9]+) requests in `)
	wrkNon2xx    = regexp.MustCompile(`(?m)^\s+Non-2xx or 3xx responses: ([0-9]+)`)
	wrkSocket    = regexp.MustCompile(`(?m)^\s+Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)`)
)

// parseWrk reads req/s, the 50th and 99th latency percentiles, the request
// count and the errors from wrk's --latency output.
func parseWrk(out string) (wrkResult, error) {
	r := wrkResult{Raw: out}
	m := wrkReqPerSec.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk's output:\n%s", out)
	}
	r.ReqPerSec, _ = strconv.ParseFloat(m[1], 64)
	for _, p := range wrkPercent.FindAllStringSubmatch(out, -1) {
		d := parseWrkDuration(p[2], p[3])
		switch p[1] {
		case "50":
			r.P50 = d
		case "99":
			r.P99 = d
		}
	}
	if r.P50 == 0 || r.P99 == 0 {
		return r, fmt.Errorf("no latency distribution in wrk's output (--latency):\n%s", out)
	}
	if m := wrkRequests.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.SocketErrs += n
		}
	}
	return r, nil
}

func parseWrkDuration(v, unit string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "us":
		return time.Duration(f * float64(time.Microsecond))
	case "ms":
		return time.Duration(f * float64(time.Millisecond))
	}
	return time.Duration(f * float64(time.Second))
}

// wrkVersion returns wrk's first line, e.g. "wrk debian/4.1.0-3+b2 [epoll]".
func wrkVersion() string {
	out, _ := runChild(5*time.Second, "wrk", "--version")
	line, _, _ := strings.Cut(out, "\n")
	if i := strings.Index(line, " Copyright"); i > 0 {
		line = line[:i]
	}
	return strings.TrimSpace(line)
}
