package integration

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chattoken/chattoken/test/harness"
)

// metricsConn opens a TCP connection to the metrics listener.
func metricsConn(t *testing.T, svc *harness.Service) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(svc.MetricsURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// requireClosedWithin fails unless the server closes conn within d,
// reading and discarding whatever it still sends.
func requireClosedWithin(t *testing.T, conn net.Conn, r io.Reader, d time.Duration) {
	t.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(d))
	_, err := io.Copy(io.Discard, r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection is still open after %s", d)
	}
	t.Logf("closed after %s (%v)", time.Since(start).Round(100*time.Millisecond), err)
}

func TestMetricsListenerBounds(t *testing.T) {
	t.Parallel()
	svc, _ := limitedService(t, nil)
	if svc.MetricsURL == "" {
		t.Fatal("no metrics listener")
	}
	t.Run("an idle keep-alive connection is closed within 15s", func(t *testing.T) {
		t.Parallel()
		conn := metricsConn(t, svc)
		if _, err := io.WriteString(conn, "GET /metrics HTTP/1.1\r\nHost: metrics\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("the keep-alive request: %d, close %v", resp.StatusCode, resp.Close)
		}
		requireClosedWithin(t, conn, br, 15*time.Second)
	})
	t.Run("a connection that sends nothing is closed", func(t *testing.T) {
		t.Parallel()
		conn := metricsConn(t, svc)
		requireClosedWithin(t, conn, conn, 15*time.Second)
	})
	t.Run("100 KiB of headers get 431", func(t *testing.T) {
		t.Parallel()
		req, _ := http.NewRequest(http.MethodGet, svc.MetricsURL+"/metrics", nil)
		req.Header.Set("X-Filler", strings.Repeat("a", 100<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", resp.StatusCode)
		}
	})
}
