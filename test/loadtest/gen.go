package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newClient is a keep-alive client with up to conns connections.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			DisableCompression:  true,
		},
	}
}

// get asks url for a token with cookie s=value and reads the whole answer.
func get(client *http.Client, url, value string) error {
	req, err := http.NewRequest(http.MethodGet, url+"/token", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Cookie", "s="+value)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

// closedLoop sends n requests from workers goroutines, each sending its
// next request when the previous one is answered, with cookie(i) for the
// i-th request (from 0). after, when set, is called with the count of
// requests done whenever that count is a multiple of every; it runs on the
// worker that reached it while the others go on. It stops early at
// deadline and returns how many requests were done and failed.
func closedLoop(url string, workers, n int, cookie func(i int) string, deadline time.Time, every int, after func(done int)) (done, failed int, err error) {
	client := newClient(workers)
	defer client.CloseIdleConnections()
	var next, finished, bad atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || time.Now().After(deadline) {
					return
				}
				if e := get(client, url, cookie(i)); e != nil {
					bad.Add(1)
					firstErr.CompareAndSwap(nil, e.Error())
				}
				if d := int(finished.Add(1)); every > 0 && after != nil && d%every == 0 {
					after(d)
				}
			}
		})
	}
	wg.Wait()
	if e, _ := firstErr.Load().(string); e != "" {
		err = fmt.Errorf("%d requests failed, first: %s", bad.Load(), e)
	}
	return int(finished.Load()), int(bad.Load()), err
}

// warm asks once for each of the 1,000 reused sessions, so the measured run
// sees the steady state: sessions cached, tokens minted.
func warm(url string) error {
	_, _, err := closedLoop(url, 8, 1000, func(i int) string { return strconv.Itoa(i + 1) },
		time.Now().Add(30*time.Second), 0, nil)
	return err
}

// pacedResult is what the constant-rate generator saw.
type pacedResult struct {
	Rate      float64 // asked for, requests per second
	Achieved  float64 // requests answered per second
	Sent      int
	Failed    int
	P50, P99  time.Duration // from the scheduled send time (includes queueing)
	Max       time.Duration
	SvcP99    time.Duration // from the actual send time
	FirstFail string
}

// paced sends requests at a constant rate for dur from workers goroutines,
// each request with a new session, and records every latency. A request's
// latency counts from the moment it was scheduled, not from when a worker
// got to it, so a stalled server is not hidden by the generator waiting
// for it (no coordinated omission).
func paced(url string, rate float64, dur time.Duration, workers int) pacedResult {
	client := newClient(workers)
	defer client.CloseIdleConnections()
	prefix := "paced-" + randomHex(6) + "-"
	total := int(rate * dur.Seconds())
	type job struct {
		i  int
		at time.Time
	}
	jobs := make(chan job, total)
	lat := make([]time.Duration, total)
	svc := make([]time.Duration, total)
	var failed atomic.Int64
	var firstFail atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				sent := time.Now()
				if err := get(client, url, prefix+strconv.Itoa(j.i)); err != nil {
					failed.Add(1)
					firstFail.CompareAndSwap(nil, err.Error())
				}
				end := time.Now()
				lat[j.i] = end.Sub(j.at)
				svc[j.i] = end.Sub(sent)
			}
		})
	}
	start := time.Now()
	interval := float64(time.Second) / rate
	for i := range total {
		at := start.Add(time.Duration(float64(i) * interval))
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		jobs <- job{i: i, at: at}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	r := pacedResult{Rate: rate, Sent: total, Failed: int(failed.Load())}
	r.Achieved = float64(total) / elapsed.Seconds()
	r.P50, r.P99, r.Max = percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)
	r.SvcP99 = percentile(svc, 99)
	r.FirstFail, _ = firstFail.Load().(string)
	return r
}

// percentile returns the p-th percentile (nearest rank) of ds; it sorts ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(p/100*float64(len(ds))+0.999999) - 1
	return ds[min(max(rank, 0), len(ds)-1)]
}
