package server

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// When the public listener fails, Run ends with that error, and only once
// the metrics listener it started has closed too: nothing is left serving.
func TestRunEndsWhenThePublicListenerFails(t *testing.T) {
	t.Parallel()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("up 1\n")) })
	s, err := Listen(Config{Addr: "127.0.0.1:0", Metrics: metrics, MetricsAddr: "127.0.0.1:0", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	metricsURL := "http://" + s.metrics.Addr().String() + "/metrics"
	log := zerolog.Nop()
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), http.NotFoundHandler(), log.Info()) }()

	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(metricsURL)
		if err == nil {
			_ = resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the metrics listener never answered: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !s.Ready().Load() {
		t.Error("not ready while serving")
	}

	_ = s.api.Close() // what a failing listener looks like to Serve
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "serving") {
			t.Errorf("Run returned %v; want the serving error", err)
		}
	case <-time.After(drainTimeout + 5*time.Second):
		t.Fatal("Run did not return after its listener failed")
	}
	if conn, err := net.DialTimeout("tcp", s.metrics.Addr().String(), time.Second); err == nil {
		_ = conn.Close()
		t.Error("the metrics listener still accepts connections after Run returned")
	}
	if s.Ready().Load() {
		t.Error("still ready after Run returned")
	}
}

func TestListenNamesTheAddressItCannotUse(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	metrics := http.NotFoundHandler()
	if _, err := Listen(Config{Addr: addr, Log: zerolog.Nop()}); err == nil || !strings.Contains(err.Error(), "listening on "+addr) {
		t.Errorf("public address taken: %v", err)
	}
	_, err = Listen(Config{Addr: "127.0.0.1:0", Metrics: metrics, MetricsAddr: addr, Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "metrics listener on "+addr) {
		t.Errorf("metrics address taken: %v", err)
	}
}
