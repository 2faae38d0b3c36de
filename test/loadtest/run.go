package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// row is one line of the results table.
type row struct {
	name      string
	reqPerSec float64
	p50, p99  time.Duration
	hwm       int64
	use       usage
	note      string
}

// run collects the figures of one load test.
type run struct {
	opt options
	dir string

	rows []row

	// References, in signatures per second. rawGo and opensslSpeed are the means of the
	// samples, measured before and after the runs compared with them.
	rawGo, signerGo, signerOpenSSL, opensslSpeed float64
	rawGoSamples, opensslSamples, naiveHSSamples []float64
	rawGoAllocs, signerGoAllocs                  float64
	handlerAllocs                                map[string]float64

	startup            []time.Duration
	unloaded           wrkResult
	unloadedUse        usage
	paced              pacedResult
	pacedUse           usage
	pacedHWM           int64
	maxHWM             int64
	rs256New, rs256Re  float64
	hs256Re, naiveHSRe float64
	osslNew, osslRe    float64
	failures           []string
}

type envFunc func(alg, key, addr string, extra ...string) []string

func (r *run) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	progress("FAILED: %s", msg)
	r.failures = append(r.failures, msg)
}

func (r *run) measure(bins binaries, env envFunc, rsaKey, hmacKey string) {
	reusedLua, newLua, err := writeScripts(r.dir)
	if err != nil {
		fatalf("%v", err)
	}
	if r.opt.only != nil {
		r.measureOnly(bins, env, rsaKey, hmacKey, reusedLua, newLua)
		return
	}
	r.references(bins)

	// Startup: exec until /healthz answers 200, RS256 (the key is parsed
	// and a self-test token signed before listening).
	for range r.opt.startups {
		addr, err := freeAddr()
		if err != nil {
			fatalf("%v", err)
		}
		s, took, err := startServer(r.dir, "chattoken-startup", serverCPU, env("RS256", rsaKey, addr), addr, bins.chattoken)
		if err != nil {
			fatalf("%v", err)
		}
		s.stop()
		r.startup = append(r.startup, took)
	}
	progress("startup: %v", r.startup)

	// chattoken RS256: reused sessions, one connection, new sessions, and
	// paced at half the new-session rate.
	r.withServer("chattoken RS256", bins.chattoken, env("RS256", rsaKey, "%s"), func(s *server) {
		r.rs256Re = r.wrkRow(s, "chattoken RS256, 1,000 sessions reused", reusedLua, r.opt.conns, r.opt.dur, true).reqPerSec
		var un wrkResult
		use, err := r.clean("unloaded run", s.pid(), func() (err error) {
			un, err = runWrk(loadCPU, s.url, reusedLua, 1, 5*time.Second)
			r.verboseOut("wrk -c1 (unloaded)", un.Raw)
			return err
		})
		switch {
		case err != nil:
			r.fail("unloaded run: %v", err)
		case un.Non2xx+un.SocketErrs > 0:
			r.fail("unloaded run: %d non-2xx answers, %d socket errors", un.Non2xx, un.SocketErrs)
		}
		r.unloaded, r.unloadedUse = un, use
		r.rs256New = r.wrkRow(s, "chattoken RS256, new session every request", newLua, r.opt.conns, r.opt.dur, false).reqPerSec
		if r.rs256New > 0 {
			progress("paced: %.0f req/s for %s, 32 workers", r.rs256New/2, r.opt.dur)
			r.pacedUse, _ = r.clean("paced run", s.pid(), func() error {
				r.paced = paced(s.url, r.rs256New/2, r.opt.dur, 32)
				return nil
			})
			_, r.pacedHWM = memory(s.pid())
			r.maxHWM = max(r.maxHWM, r.pacedHWM)
			if r.paced.Failed > 0 {
				r.fail("paced run: %d of %d requests failed, first: %s", r.paced.Failed, r.paced.Sent, r.paced.FirstFail)
			}
		}
		for _, u := range []struct {
			name string
			use  usage
		}{{"unloaded run", r.unloadedUse}, {"paced run", r.pacedUse}} {
			if u.use.others() > maxOthers {
				r.fail("%s: CPU0 shared: %.0f%% to other processes", u.name, 100*u.use.others())
			}
		}
	})

	// The raw rate again: the RS256 runs are compared with the mean.
	r.measureRawGo(bins.tokenTest, false)

	// chattoken HS256 between two runs of the naive server.
	naive := func(when string) {
		r.withServer("naive HS256", bins.naive, []string{"-addr", "%s", "-alg", "HS256", "-key", hmacKey}, func(s *server) {
			if rs := r.wrkRow(s, "naive Go HS256, 1,000 sessions ("+when+")", reusedLua, r.opt.conns, r.opt.dur, false).reqPerSec; rs > 0 {
				r.naiveHSSamples = append(r.naiveHSSamples, rs)
			}
		})
	}
	naive("before")
	r.withServer("chattoken HS256", bins.chattoken, env("HS256", hmacKey, "%s"), func(s *server) {
		r.hs256Re = r.wrkRow(s, "chattoken HS256, 1,000 sessions reused", reusedLua, r.opt.conns, r.opt.dur, true).reqPerSec
		r.wrkRow(s, "chattoken HS256, new session every request", newLua, r.opt.conns, r.opt.dur, false)
	})
	naive("after")
	r.naiveHSRe = mean(r.naiveHSSamples)
	r.withServer("naive RS256", bins.naive, []string{"-addr", "%s", "-alg", "RS256", "-key", rsaKey}, func(s *server) {
		r.wrkRow(s, "naive Go RS256, 1,000 sessions", reusedLua, r.opt.conns, r.opt.dur, false)
	})

	if bins.chattokenOpenSSL != "" {
		r.withServer("chattoken-openssl RS256", bins.chattokenOpenSSL, env("RS256", rsaKey, "%s"), func(s *server) {
			r.osslRe = r.wrkRow(s, "chattoken-openssl RS256, 1,000 sessions reused", reusedLua, r.opt.conns, r.opt.dur, true).reqPerSec
			r.osslNew = r.wrkRow(s, "chattoken-openssl RS256, new session every request", newLua, r.opt.conns, r.opt.dur, false).reqPerSec
		})
		r.measureOpenSSLSpeed()
	}
	r.rawGo, r.opensslSpeed = mean(r.rawGoSamples), mean(r.opensslSamples)
}

// measureOnly measures the scenarios -only selects, each on a server of
// its own, so that two trees (or two changes) compare on one figure without
// the whole run around it.
func (r *run) measureOnly(bins binaries, env envFunc, rsaKey, hmacKey, reusedLua, newLua string) {
	naiveArgs := func(alg, key string) []string { return []string{"-addr", "%s", "-alg", alg, "-key", key} }
	type scenario struct {
		name, server, binary string
		envOrArgs            []string
		script               string
		warm                 bool
	}
	scenarios := []scenario{
		{"chattoken RS256, 1,000 sessions reused", "chattoken RS256", bins.chattoken, env("RS256", rsaKey, "%s"), reusedLua, true},
		{"chattoken RS256, new session every request", "chattoken RS256", bins.chattoken, env("RS256", rsaKey, "%s"), newLua, false},
		{"naive Go HS256, 1,000 sessions", "naive HS256", bins.naive, naiveArgs("HS256", hmacKey), reusedLua, false},
		{"chattoken HS256, 1,000 sessions reused", "chattoken HS256", bins.chattoken, env("HS256", hmacKey, "%s"), reusedLua, true},
		{"chattoken HS256, new session every request", "chattoken HS256", bins.chattoken, env("HS256", hmacKey, "%s"), newLua, false},
		{"naive Go RS256, 1,000 sessions", "naive RS256", bins.naive, naiveArgs("RS256", rsaKey), reusedLua, false},
	}
	if bins.chattokenOpenSSL != "" {
		scenarios = append(scenarios,
			scenario{"chattoken-openssl RS256, 1,000 sessions reused", "chattoken-openssl RS256", bins.chattokenOpenSSL, env("RS256", rsaKey, "%s"), reusedLua, true},
			scenario{"chattoken-openssl RS256, new session every request", "chattoken-openssl RS256", bins.chattokenOpenSSL, env("RS256", rsaKey, "%s"), newLua, false})
	}
	for _, sc := range scenarios {
		if !r.opt.only.MatchString(sc.name) {
			continue
		}
		r.withServer(sc.server, sc.binary, sc.envOrArgs, func(s *server) {
			r.wrkRow(s, sc.name, sc.script, r.opt.conns, r.opt.dur, sc.warm)
		})
	}
	if len(r.rows) == 0 && len(r.failures) == 0 {
		fatalf("-only %q matches no scenario", r.opt.only)
	}
}

func mean(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	sum := 0.0
	for _, v := range vs {
		sum += v
	}
	return sum / float64(len(vs))
}

// measureRawGo measures crypto/rsa's raw signing rate (and, the first
// time, the RS256 signer of the default build).
func (r *run) measureRawGo(tokenTest string, first bool) {
	re := "^BenchmarkRawRSASign$"
	if first {
		re = "^(BenchmarkRawRSASign|BenchmarkSignerRS256)$"
	}
	progress("raw signing: %s (3s each)", re)
	res, out, err := r.bench("raw signing benchmark", tokenTest, re, "3s")
	if err != nil {
		fatalf("%v", err)
	}
	raw, ok := res["BenchmarkRawRSASign"]
	if !ok || raw.NsPerOp == 0 {
		fatalf("no BenchmarkRawRSASign result:\n%s", out)
	}
	r.rawGoSamples = append(r.rawGoSamples, 1e9/raw.NsPerOp)
	r.rawGoAllocs = raw.AllocsPerOp
	if s, ok := res["BenchmarkSignerRS256"]; ok && s.NsPerOp > 0 {
		r.signerGo, r.signerGoAllocs = 1e9/s.NsPerOp, s.AllocsPerOp
	}
}

// measureOpenSSLSpeed runs openssl speed, where openssl is installed.
func (r *run) measureOpenSSLSpeed() {
	if _, err := exec.LookPath("openssl"); err != nil {
		return
	}
	progress("openssl speed -seconds 3 rsa2048 (sign and verify: 6s)")
	var v float64
	err := r.cleanRef("openssl speed", func() (usage, error) {
		var out string
		var use usage
		var err error
		v, out, use, err = opensslSpeed()
		r.verboseOut("openssl speed", out)
		return use, err
	})
	if err != nil {
		r.fail("openssl speed: %v", err)
		return
	}
	r.opensslSamples = append(r.opensslSamples, v)
}

// references measures, pinned to the server's core, the raw signing rates
// and the handler's allocations.
func (r *run) references(bins binaries) {
	r.measureRawGo(bins.tokenTest, true)

	if bins.tokenTestOpenSSL != "" {
		progress("OpenSSL build's signer: BenchmarkSignerRS256 -tags openssl (3s)")
		res, _, err := r.bench("OpenSSL signer benchmark", bins.tokenTestOpenSSL, "^BenchmarkSignerRS256$", "3s")
		if err != nil {
			r.fail("OpenSSL signer benchmark: %v", err)
		} else if s, ok := res["BenchmarkSignerRS256"]; ok && s.NsPerOp > 0 {
			r.signerOpenSSL = 1e9 / s.NsPerOp
		} else {
			r.fail("no BenchmarkSignerRS256 in the OpenSSL build's token benchmarks")
		}
	}

	r.measureOpenSSLSpeed()

	progress("allocations: BenchmarkTokenHandler (cached, reuse off; and the recorder alone)")
	r.handlerAllocs = map[string]float64{}
	for _, re := range []string{
		"^BenchmarkTokenHandler$/^cached(-nocontext)?$/^(RS256|HS256)$/^reuse=off$",
		"^BenchmarkTokenHandler$/^recorder-only$",
	} {
		// Allocation counts do not depend on what else runs: no retry.
		res, out, _, err := goBench(bins.httpapiTest, re, "300x")
		r.verboseOut("go test -bench (internal/httpapi)", out)
		if err != nil {
			r.fail("handler benchmark: %v", err)
			return
		}
		for name, b := range res {
			r.handlerAllocs[strings.TrimPrefix(name, "BenchmarkTokenHandler/")] = b.AllocsPerOp
		}
	}
}

// bench runs benchmarks pinned to the server's core, again if another
// process took part of it.
func (r *run) bench(name, testBinary, re, benchtime string) (map[string]benchLine, string, error) {
	var res map[string]benchLine
	var out string
	err := r.cleanRef(name, func() (usage, error) {
		var use usage
		var err error
		res, out, use, err = goBench(testBinary, re, benchtime)
		r.verboseOut(name, out)
		return use, err
	})
	return res, out, err
}

// cleanRef runs a reference measurement until other processes took no
// more than maxOthers of the server's core, like clean.
func (r *run) cleanRef(name string, f func() (usage, error)) error {
	for try := 0; ; try++ {
		u, err := f()
		if err != nil {
			return err
		}
		if u.others() <= maxOthers {
			return nil
		}
		if try >= r.opt.retries {
			r.fail("%s: CPU0 shared: %.0f%% to other processes", name, 100*u.others())
			return nil
		}
		progress("%s: %.0f%% of CPU 0 went to other processes: measuring again once the machine is idle", name, 100*u.others())
		waitIdle(r.opt.wait)
	}
}

// withServer starts a server pinned to the server core, with "%s" in env
// or argv replaced by its address, runs f and stops it.
func (r *run) withServer(name, binary string, envOrArgs []string, f func(*server)) {
	addr, err := freeAddr()
	if err != nil {
		fatalf("%v", err)
	}
	var env, args []string
	isNaive := strings.HasPrefix(name, "naive")
	for _, v := range envOrArgs {
		v = strings.ReplaceAll(v, "%s", addr)
		if isNaive {
			args = append(args, v)
		} else {
			env = append(env, v)
		}
	}
	s, _, err := startServer(r.dir, strings.ReplaceAll(name, " ", "-"), serverCPU, env, addr, append([]string{binary}, args...)...)
	if err != nil {
		r.fail("%s: %v", name, err)
		return
	}
	defer s.stop()
	f(s)
	if n := s.errorsLogged(); n > 0 {
		r.fail("%s logged %d errors (see a -v run)", name, n)
	}
}

// wrkRow runs wrk against s and records a row. warmFirst asks once for
// every reused session before the measured run.
func (r *run) wrkRow(s *server, name, script string, conns int, dur time.Duration, warmFirst bool) row {
	if warmFirst {
		if err := warm(s.url); err != nil {
			r.fail("%s: warming: %v", name, err)
			return row{name: name}
		}
	}
	progress("%s: wrk -t1 -c%d -d%s", name, conns, dur)
	var res wrkResult
	use, err := r.clean(name, s.pid(), func() (err error) {
		res, err = runWrk(loadCPU, s.url, script, conns, dur)
		r.verboseOut("wrk: "+name, res.Raw)
		return err
	})
	_, hwm := memory(s.pid())
	rw := row{name: name, reqPerSec: res.ReqPerSec, p50: res.P50, p99: res.P99, hwm: hwm, use: use}
	if strings.HasPrefix(name, "chattoken") {
		r.maxHWM = max(r.maxHWM, hwm)
	}
	switch {
	case err != nil:
		r.fail("%s: %v", name, err)
		rw.note = "wrk failed"
	case res.Non2xx > 0 || res.SocketErrs > 0:
		r.fail("%s: %d non-2xx answers and %d socket errors in %d requests", name, res.Non2xx, res.SocketErrs, res.Requests)
		rw.note = fmt.Sprintf("%d errors", res.Non2xx+res.SocketErrs)
	case use.others() > maxOthers:
		rw.note = fmt.Sprintf("CPU0 shared: %.0f%% to other processes", 100*use.others())
		r.fail("%s: %s", name, rw.note)
	case use.cpu1 > 0.9 && use.cpu0 < 0.9:
		// The server's core had room: the load generator was the limit.
		rw.note = "load generator bound"
	}
	r.rows = append(r.rows, rw)
	return rw
}

// maxOthers is the share of the server's core other processes may take
// before a measurement is repeated (and, if that does not help, flagged).
const maxOthers = 0.10

// clean runs f, measuring who used the cores, until no other process took
// more than maxOthers of the server's core, at most 1+retries times
// (waiting for an idle machine before each retry), and returns the usage
// of the last run.
func (r *run) clean(name string, pid int, f func() error) (usage, error) {
	for try := 0; ; try++ {
		var err error
		u := measureUsage(pid, func() { err = f() })
		if err != nil || u.others() <= maxOthers || try >= r.opt.retries {
			return u, err
		}
		progress("%s: %.0f%% of CPU 0 went to other processes: measuring again once the machine is idle", name, 100*u.others())
		waitIdle(r.opt.wait)
	}
}

func (r *run) verboseOut(title, out string) {
	if r.opt.verbose && out != "" {
		fmt.Fprintf(os.Stderr, "---- %s\n%s\n", title, strings.TrimRight(out, "\n"))
	}
}

// cpu0String shows how the server's core was used: the server process,
// the kernel's network processing (softirq) and other processes.
func (u usage) cpu0String() string {
	return fmt.Sprintf("%.0f%%: %.0f / %.0f / %.0f", 100*u.cpu0, 100*u.server, 100*u.softirq0, 100*u.others())
}

// ratio formats a/b, or "–" when b is unknown.
func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "NOT MET"
}

// report prints the table and the targets.
func (r *run) report() {
	if r.opt.only != nil {
		r.table()
		r.reportFailures()
		return
	}
	fmt.Println("reference signing rates, one core (CPU " + serverCPU + "):")
	fmt.Printf("  Go crypto/rsa raw RSA-2048 sign (BenchmarkRawRSASign):  %s signs/s (mean of %s)\n", thousands(r.rawGo), samples(r.rawGoSamples))
	if r.signerGo > 0 {
		fmt.Printf("  RS256 signer, default build (BenchmarkSignerRS256):    %s signs/s\n", thousands(r.signerGo))
	}
	if r.signerOpenSSL > 0 {
		fmt.Printf("  RS256 signer, -tags openssl (BenchmarkSignerRS256):    %s signs/s\n", thousands(r.signerOpenSSL))
	}
	if r.opensslSpeed > 0 {
		fmt.Printf("  openssl speed -seconds 3 rsa2048:                      %s signs/s (%.2f× Go; mean of %s)\n", thousands(r.opensslSpeed), r.opensslSpeed/r.rawGo, samples(r.opensslSamples))
	} else {
		fmt.Println("  openssl speed: not measured (openssl not installed)")
	}
	fmt.Printf("  naive Go HS256 server, 1,000 sessions:                 %s req/s (mean of %s)\n", thousands(r.naiveHSRe), samples(r.naiveHSSamples))
	fmt.Println("  (each reference is measured before and after the runs it is compared with)")
	fmt.Println()

	r.table()
	fmt.Printf("startup (exec until /healthz 200, RS256, %d starts): median %s, all %s\n", len(r.startup), ms(median(r.startup)), fmtDurations(r.startup))
	fmt.Printf("unloaded (wrk -t1 -c1 -d5s, RS256, reused sessions): %s req/s, p50 %s, p99 %s; CPU0 %s\n",
		thousands(r.unloaded.ReqPerSec), ms(r.unloaded.P50), ms(r.unloaded.P99), r.unloadedUse.cpu0String())
	fmt.Printf("paced (RS256 new sessions at half the saturated rate, 32 workers, every latency from its scheduled time):\n")
	fmt.Printf("  %.0f req/s asked, %.0f answered per second, %d requests, %d failed: p50 %s, p99 %s, max %s (service time p99 %s); VmHWM %s; CPU0 %s\n\n",
		r.paced.Rate, r.paced.Achieved, r.paced.Sent, r.paced.Failed, ms(r.paced.P50), ms(r.paced.P99), ms(r.paced.Max), ms(r.paced.SvcP99), mib(r.pacedHWM), r.pacedUse.cpu0String())

	fmt.Println("targets:")
	t := func(n, what string, ok bool, known bool) {
		v := verdict(ok)
		if !known {
			v = "NOT MEASURED"
		}
		fmt.Printf("  %-2s %-66s %s\n", n, what, v)
	}
	t("1", fmt.Sprintf("RS256 new session %s req/s = %s raw Go sign (≥ 0.90×)", thousands(r.rs256New), ratio(r.rs256New, r.rawGo)),
		r.rs256New >= 0.9*r.rawGo, r.rs256New > 0)
	t("1", fmt.Sprintf("HS256 reused %s req/s = %s naive Go HS256 (≥ 0.80×)", thousands(r.hs256Re), ratio(r.hs256Re, r.naiveHSRe)),
		r.hs256Re >= 0.8*r.naiveHSRe, r.hs256Re > 0 && r.naiveHSRe > 0)
	if r.osslNew > 0 {
		t("1", fmt.Sprintf("openssl build: RS256 new session %s req/s = %s openssl speed (≥ 0.90×)", thousands(r.osslNew), ratio(r.osslNew, r.opensslSpeed)),
			r.osslNew >= 0.9*r.opensslSpeed, r.opensslSpeed > 0)
	}
	signAllocs, signName := r.rawGoAllocs, "BenchmarkRawRSASign"
	if r.signerGo > 0 {
		signAllocs, signName = r.signerGoAllocs, "BenchmarkSignerRS256"
	}
	rec := r.handlerAllocs["recorder-only"]
	for _, v := range []struct{ bench, what string }{
		{"cached", "with a 4-variable context schema"},
		{"cached-nocontext", "without a context schema"},
	} {
		rsAllocs, ok := r.handlerAllocs[v.bench+"/RS256/reuse=off"]
		beyond := rsAllocs - rec - signAllocs
		t("2", fmt.Sprintf("allocs/request beyond the signature %s: %.0f (≤ 40)", v.what, beyond), beyond <= 40, ok)
		fmt.Printf("  %-2s %s\n", "", fmt.Sprintf("(RS256 handler %.0f − recorder %.0f − %s %.0f; HS256 handler %.0f − recorder %.0f, HMAC included: %.0f)",
			rsAllocs, rec, signName, signAllocs, r.handlerAllocs[v.bench+"/HS256/reuse=off"], rec, r.handlerAllocs[v.bench+"/HS256/reuse=off"]-rec))
	}
	t("3", fmt.Sprintf("RS256 1,000 reused sessions %s req/s = %s raw Go sign (≥ 10×)", thousands(r.rs256Re), ratio(r.rs256Re, r.rawGo)),
		r.rs256Re >= 10*r.rawGo, r.rs256Re > 0)
	if r.osslRe > 0 {
		fmt.Printf("  %-2s %s\n", "", fmt.Sprintf("(openssl build: reused %s req/s = %s raw Go sign, %s openssl speed; the target is stated for crypto/rsa)",
			thousands(r.osslRe), ratio(r.osslRe, r.rawGo), ratio(r.osslRe, r.opensslSpeed)))
	}
	t("4", fmt.Sprintf("OpenSSL signer %s signs/s = %s openssl speed (≥ 0.85×)", thousands(r.signerOpenSSL), ratio(r.signerOpenSSL, r.opensslSpeed)),
		r.signerOpenSSL >= 0.85*r.opensslSpeed, r.signerOpenSSL > 0 && r.opensslSpeed > 0)
	t("5", fmt.Sprintf("unloaded p99 %s (< 2 ms)", ms(r.unloaded.P99)), r.unloaded.P99 < 2*time.Millisecond, r.unloaded.P99 > 0)
	t("5", fmt.Sprintf("p99 at half the saturated rate %s (< 10 ms)", ms(r.paced.P99)), r.paced.P99 < 10*time.Millisecond && r.paced.Failed == 0, r.paced.Sent > 0)
	t("5", fmt.Sprintf("peak resident memory (VmHWM, every chattoken run) %s (< 40 MiB)", mib(r.maxHWM)), r.maxHWM < 40<<20, r.maxHWM > 0)
	t("5", fmt.Sprintf("startup median %s (≤ 200 ms)", ms(median(r.startup))), median(r.startup) <= 200*time.Millisecond, len(r.startup) > 0)
	fmt.Printf("  %-2s %-66s %s\n", "5", "no growth over 200,000 requests", "see make loadtest-leak")
	r.reportFailures()
}

// table prints the results table; the ratio column needs the references,
// which a -only run does not measure.
func (r *run) table() {
	fmt.Println("| scenario | req/s | p50 | p99 | VmHWM | CPU0 busy: server / softirq / others | CPU1 busy | ratio |")
	fmt.Println("|---|--:|--:|--:|--:|--:|--:|---|")
	for _, rw := range r.rows {
		rt := ""
		switch {
		case strings.Contains(rw.name, "openssl"):
			rt = ratio(rw.reqPerSec, r.opensslSpeed) + " openssl speed"
		case strings.Contains(rw.name, "RS256"):
			rt = ratio(rw.reqPerSec, r.rawGo) + " raw Go sign"
		case strings.Contains(rw.name, "HS256"):
			rt = ratio(rw.reqPerSec, r.naiveHSRe) + " naive HS256"
		}
		if rw.note != "" {
			rt += " (" + rw.note + ")"
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %.0f%% | %s |\n", rw.name, thousands(rw.reqPerSec),
			ms(rw.p50), ms(rw.p99), mib(rw.hwm), rw.use.cpu0String(), 100*rw.use.cpu1, rt)
	}
	fmt.Println()
}

// reportFailures lists what went wrong during the run and exits 1 if
// anything did.
func (r *run) reportFailures() {
	if len(r.failures) > 0 {
		fmt.Println("\nproblems during the run (figures above may be invalid):")
		for _, f := range r.failures {
			fmt.Println("  - " + f)
		}
		cleanup()
		os.Exit(1)
	}
}

func samples(vs []float64) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = thousands(v)
	}
	return strings.Join(parts, " and ")
}

func fmtDurations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
	}
	return strings.Join(parts, ", ") + " ms"
}
