package integration

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chattoken/chattoken/test/harness"
)

// TestShutdownKeepsMetricsUntilDrained follows a SIGTERM through its
// phases with a request in flight: during the delay /readyz answers 503,
// /metrics 200 and new requests are still served; once the delay is over
// the public listener closes and the held request drains, /metrics still
// answering; then the held request gets its token and the process exits 0.
// A scrape fails only once nothing is left to watch.
func TestShutdownKeepsMetricsUntilDrained(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	upstream.AddSession("slow", `{"contact":{"id":"c-slow"}}`)
	upstream.AddSession("ann", `{"contact":{"id":"c-ann"}}`)
	env, key := rsaEnv(t, upstream)
	env["CHATTOKEN_SHUTDOWN_DELAY"] = "2s"
	// The held request outlasts the delay and is answered within this.
	env["CHATTOKEN_INTROSPECT_TIMEOUT"] = "8s"
	svc := harness.Start(t, env)
	if svc.MetricsURL == "" {
		t.Fatal("no metrics listener")
	}
	client := &http.Client{Timeout: time.Second}
	status := func(url string) (int, error) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := status(svc.MetricsURL + "/metrics"); code != http.StatusOK {
		t.Fatalf("/metrics before shutdown: %d %v", code, err)
	}

	// Released at the latest when the test ends, so that the upstream can
	// close.
	release := sync.OnceFunc(upstream.HoldSession("slow"))
	defer release()
	type answer struct {
		status int
		body   []byte
	}
	slow := make(chan answer, 1)
	go func() {
		resp, body := harness.Do(t, http.MethodGet, svc.URL+"/token", "slow", "", "")
		slow <- answer{resp.StatusCode, body}
	}()
	select {
	case <-upstream.Arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow request never reached the upstream")
	}

	signalled := time.Now()
	if err := svc.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		code, err := status(svc.URL + "/readyz")
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Since(signalled) > time.Second {
			t.Fatalf("/readyz still %d (%v) 1s after SIGTERM", code, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp, body := harness.Do(t, http.MethodGet, svc.URL+"/token", "ann", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("a new request during the shutdown delay got %d %s", resp.StatusCode, body)
	}
	// The delay: not ready, and watched.
	for time.Since(signalled) < 1500*time.Millisecond {
		if code, err := status(svc.MetricsURL + "/metrics"); code != http.StatusOK {
			t.Fatalf("/metrics %s into the 2s shutdown delay: %d %v; want 200", time.Since(signalled).Round(time.Millisecond), code, err)
		}
		if code, err := status(svc.URL + "/readyz"); code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz %s into the shutdown delay: %d %v; want 503", time.Since(signalled).Round(time.Millisecond), code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The drain: the public listener takes no new connection, the held
	// request is still in flight, and the metrics listener answers.
	for {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(svc.URL, "http://"), time.Second)
		if err != nil {
			break
		}
		_ = conn.Close()
		if time.Since(signalled) > 5*time.Second {
			t.Fatal("the public listener still accepts connections 5s after SIGTERM with a 2s delay")
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case a := <-slow:
		t.Fatalf("the held request was answered (%d) before it was released", a.status)
	default:
	}
	if code, err := status(svc.MetricsURL + "/metrics"); code != http.StatusOK {
		t.Fatalf("/metrics while the public listener drains: %d %v; want 200", code, err)
	}

	release()
	a := <-slow
	if a.status != http.StatusOK {
		t.Fatalf("the request in flight at SIGTERM got %d %s, want 200", a.status, a.body)
	}
	if sub := verifiedClaims(t, a.body, &key.PublicKey)["sub"]; sub != "c-slow" {
		t.Errorf("the in-flight request's token is for %v, want c-slow", sub)
	}
	if code := svc.Wait(t, 12*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0\n%s", code, svc.Logs())
	}
	// The delay, then at most the 10 s drain bound.
	if took := time.Since(signalled); took > 12*time.Second {
		t.Errorf("shutdown took %s, want at most the 2s delay plus 10s", took)
	}
}
