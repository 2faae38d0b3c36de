package main

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

const (
	leakRequests = 200_000
	leakEvery    = 50_000
	leakLimit    = 2 << 20 // growth allowed between the 2nd and 4th mark
)

// leakPhase is one server run of the leak check.
type leakPhase struct {
	title  string
	alg    string
	reused bool          // 1,000 reused sessions; else a new one per request
	budget time.Duration // bound on its requests
}

// The first phase is the leak target itself. The second makes the caches churn
// at their bound (a new session per request evicts the oldest entries), so
// a leak on the eviction path shows too; HS256 keeps it within the time.
var leakPhases = []leakPhase{
	{"RS256, 1,000 sessions reused", "RS256", true, 20 * time.Second},
	{"HS256, a new session every request (caches full, evicting)", "HS256", false, 30 * time.Second},
}

// runLeak runs each phase: one server, 200,000 requests from the Go
// generator over 32 connections, its memory read after every 50,000. A
// leak shows as growth between the second and the fourth mark, once caches
// and pools have reached their steady size. It reports whether every
// phase passed.
func runLeak(dir, binary string, env envFunc, rsaKey, hmacKey string) bool {
	start := time.Now()
	ok := true
	for _, p := range leakPhases {
		key := rsaKey
		if p.alg == "HS256" {
			key = hmacKey
		}
		ok = leak(dir, binary, p, func(addr string) []string { return env(p.alg, key, addr) }) && ok
	}
	fmt.Printf("whole leak check: %.1f s\n", time.Since(start).Seconds())
	return ok
}

func leak(dir, binary string, p leakPhase, env func(addr string) []string) bool {
	addr, err := freeAddr()
	if err != nil {
		fatalf("%v", err)
	}
	s, _, err := startServer(dir, "chattoken-leak-"+p.alg, serverCPU, env(addr), addr, binary)
	if err != nil {
		fatalf("%v", err)
	}
	defer s.stop()
	cookie := func(i int) string { return strconv.Itoa(i%1000 + 1) }
	if p.reused {
		if err := warm(s.url); err != nil {
			fatalf("warming: %v", err)
		}
	} else {
		prefix := "leak-" + randomHex(6) + "-"
		cookie = func(i int) string { return prefix + strconv.Itoa(i) }
	}
	rss0, hwm0 := memory(s.pid())

	type mark struct {
		n        int
		at       time.Duration
		rss, hwm int64
	}
	var mu sync.Mutex
	var marks []mark
	loadStart := time.Now()
	progress("leak check, chattoken %s: %d requests, 32 connections, memory every %d", p.title, leakRequests, leakEvery)
	done, failed, err := closedLoop(s.url, 32, leakRequests, cookie, loadStart.Add(p.budget), leakEvery, func(n int) {
		rss, hwm := memory(s.pid())
		mu.Lock()
		marks = append(marks, mark{n, time.Since(loadStart), rss, hwm})
		mu.Unlock()
		progress("%d requests: VmRSS %s, VmHWM %s", n, mib(rss), mib(hwm))
	})
	elapsed := time.Since(loadStart)

	fmt.Printf("leak check: chattoken %s; introspect mode, session cache and token reuse on (the defaults)\n", p.title)
	fmt.Printf("before:  VmRSS %s, VmHWM %s\n", mib(rss0), mib(hwm0))
	fmt.Println("| requests | at | VmRSS | VmHWM |")
	fmt.Println("|--:|--:|--:|--:|")
	for _, m := range marks {
		fmt.Printf("| %s | %.1f s | %s | %s |\n", thousands(float64(m.n)), m.at.Seconds(), mib(m.rss), mib(m.hwm))
	}
	fmt.Printf("%d requests in %.1f s (%.0f req/s), %d failed\n", done, elapsed.Seconds(), float64(done)/elapsed.Seconds(), failed)
	if err != nil {
		fmt.Println("errors:", err)
	}
	if n := s.errorsLogged(); n > 0 {
		fmt.Printf("the server logged %d errors\n", n)
	}
	if len(marks) < 4 {
		fmt.Printf("no growth: NOT MEASURED: only %d of %d requests within %s\n\n", done, leakRequests, p.budget)
		return false
	}
	growth := marks[3].rss - marks[1].rss
	passed := growth < leakLimit && failed == 0
	fmt.Printf("no growth between the 2nd and 4th 50,000 (< %.0f MiB): VmRSS %+.2f MiB: %s\n",
		float64(leakLimit)/(1<<20), float64(growth)/(1<<20), verdict(passed))
	fmt.Printf("peak resident memory VmHWM %s (< 40 MiB): %s\n\n", mib(marks[3].hwm), verdict(marks[3].hwm < 40<<20))
	return passed
}
