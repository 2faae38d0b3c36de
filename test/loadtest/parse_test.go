package main

import (
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	t.Parallel()
	out := `Running 10s test @ http://127.0.0.1:40123/token
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    27.12ms    2.32ms  40.00ms   90.00%
    Req/Sec     1.18k    50.00     1.25k    80.00%
  Latency Distribution
     50%  812.00us
     75%   28.00ms
     90%   29.00ms
     99%    1.20s
  11800 requests in 10.01s, 11.50MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:   1179.02
Transfer/sec:      1.15MB
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.ReqPerSec != 1179.02 || r.P50 != 812*time.Microsecond || r.P99 != 1200*time.Millisecond ||
		r.Requests != 11800 || r.Non2xx != 5 || r.SocketErrs != 3 {
		t.Errorf("got %+v", r)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("no error for wrk output without figures")
	}
}

func TestParseBench(t *testing.T) {
	t.Parallel()
	out := `goos: linux
BenchmarkRawRSASign         	    3283	   1002798 ns/op	     512 B/op	       2 allocs/op
BenchmarkSignerRS256-2      	    1226	   1043770 ns/op	       958.1 signs/s	    1152 B/op	       5 allocs/op
--- BENCH: BenchmarkSignerRS256-2
BenchmarkTokenHandler/cached/RS256/reuse=off 	     300	   1081856 ns/op	    8888 B/op	      54 allocs/op
PASS
`
	res := parseBench(out)
	if b := res["BenchmarkRawRSASign"]; b.NsPerOp != 1002798 || b.AllocsPerOp != 2 || b.BytesPerOp != 512 {
		t.Errorf("raw: %+v", b)
	}
	if b := res["BenchmarkSignerRS256"]; b.Metrics["signs/s"] != 958.1 || b.AllocsPerOp != 5 {
		t.Errorf("signer: %+v", b)
	}
	if b := res["BenchmarkTokenHandler/cached/RS256/reuse=off"]; b.AllocsPerOp != 54 {
		t.Errorf("handler: %+v (all: %v)", b, res)
	}
}

func TestOpenSSLSpeed(t *testing.T) {
	t.Parallel()
	out := `Doing 2048 bits private rsa's for 3s: 10344 2048 bits private RSA's in 3.00s
                  sign    verify    sign/s verify/s
rsa 2048 bits 0.000290s 0.000009s   3448.0 111111.1
`
	m := opensslSpeedRE.FindStringSubmatch(out)
	if m == nil || m[1] != "3448.0" {
		t.Errorf("got %q", m)
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(ds, 50); p != 50*time.Millisecond {
		t.Errorf("p50 = %v", p)
	}
	if p := percentile(ds, 99); p != 99*time.Millisecond {
		t.Errorf("p99 = %v", p)
	}
	if p := percentile(ds, 100); p != 100*time.Millisecond {
		t.Errorf("max = %v", p)
	}
}

func TestPlainID(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{"1": true, "ab12-3-99": true, "": false, `a"b`: false, "a\\b": false} {
		if plainID(s) != want {
			t.Errorf("plainID(%q) = %v", s, !want)
		}
	}
}
