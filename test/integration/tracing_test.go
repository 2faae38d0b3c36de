package integration

import (
	"bytes"
	"maps"
	"net/http"
	"strings"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/chattoken/chattoken/test/harness"
)

// tracedService starts chattoken in introspect mode against introspectURL,
// exporting its spans to a new receiver; extra adds variables.
func tracedService(t *testing.T, introspectURL string, extra map[string]string) (*harness.Service, *harness.SpanReceiver) {
	t.Helper()
	rx := harness.NewSpanReceiver(t)
	_, key := harness.WriteRSAKey(t)
	env := rx.Configure(map[string]string{
		"CHATTOKEN_ISSUER":           "https://shop.example",
		"CHATTOKEN_SIGNING_KEY_FILE": key,
		"CHATTOKEN_INTROSPECT_URL":   introspectURL,
	})
	maps.Copy(env, extra)
	return harness.Start(t, env), rx
}

// annUpstream is a session upstream that knows the session "ann".
func annUpstream(t *testing.T) *harness.SessionUpstream {
	t.Helper()
	upstream := harness.NewSessionUpstream(t)
	upstream.AddSession("ann", `{"sub":"c-ann"}`)
	return upstream
}

// getToken sends GET target with ann's session cookie and header, and
// fails the test unless a token is minted.
func getToken(t *testing.T, target string, header http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(req.Header, header)
	req.Header.Set("Cookie", "session=ann")
	if resp, body := harness.Send(t, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, resp.StatusCode, body)
	}
}

// trustedLoopback names the test's own address as a trusted proxy when
// trusted is true.
func trustedLoopback(trusted bool) map[string]string {
	if !trusted {
		return nil
	}
	return map[string]string{"CHATTOKEN_TRUSTED_PROXIES": "127.0.0.1"}
}

// TestTracingExportsSpans points chattoken at an OTLP/HTTP receiver through
// the standard variables and sees the spans of a token request arrive: the
// request's and, as its child, the session upstream call's, whose trace
// context the upstream receives.
func TestTracingExportsSpans(t *testing.T) {
	t.Parallel()
	upstream := annUpstream(t)
	svc, rx := tracedService(t, upstream.URL, nil)
	getToken(t, svc.URL+"/token", nil)

	server := rx.WaitFor(t, "request span", func(s *tracepb.Span) bool {
		return harness.ServerSpan(s) && s.Name == "chattoken GET"
	})
	client := rx.WaitFor(t, "upstream span", func(s *tracepb.Span) bool {
		return harness.ClientSpan(s) && s.Name == "HTTP GET"
	})
	if !bytes.Equal(client.TraceId, server.TraceId) || !bytes.Equal(client.ParentSpanId, server.SpanId) {
		t.Errorf("the upstream span is not a child of the request span")
	}
	received := upstream.Received()
	if len(received) != 1 {
		t.Fatalf("the upstream received %d requests, want 1", len(received))
	}
	want := "00-" + harness.HexID(client.TraceId) + "-" + harness.HexID(client.SpanId) + "-01"
	if got := received[0].Header.Get("Traceparent"); got != want {
		t.Errorf("the upstream received traceparent %q, want %q", got, want)
	}
}

// TestTracingBrowserTraceparentIsOnlyALink sends a traceparent as a browser
// (or anyone) can: from an untrusted peer the request starts a trace of its
// own that links to the sent one, so no client chooses the trace the
// service's spans and its upstream's join; from a trusted proxy the sent
// context is the parent.
func TestTracingBrowserTraceparentIsOnlyALink(t *testing.T) {
	t.Parallel()
	const sentTrace, sentSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, tc := range []struct {
		name    string
		trusted bool
	}{{"untrusted peer", false}, {"trusted proxy", true}} {
		trusted := tc.trusted
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			upstream := annUpstream(t)
			svc, rx := tracedService(t, upstream.URL, trustedLoopback(trusted))
			getToken(t, svc.URL+"/token", http.Header{"Traceparent": {"00-" + sentTrace + "-" + sentSpan + "-01"}})

			server := rx.WaitFor(t, "request span", harness.ServerSpan)
			traceID, parent := harness.HexID(server.TraceId), harness.HexID(server.ParentSpanId)
			toUpstream := upstream.Received()[0].Header.Get("Traceparent")
			if trusted {
				if traceID != sentTrace || parent != sentSpan {
					t.Errorf("trace %s, parent %q: want the proxy's trace %s and span %s", traceID, parent, sentTrace, sentSpan)
				}
				if !strings.Contains(toUpstream, sentTrace) {
					t.Errorf("the upstream received traceparent %q, not in the proxy's trace", toUpstream)
				}
				return
			}
			if traceID == sentTrace || parent != "" {
				t.Errorf("trace %s, parent %q: the browser's traceparent was taken as the parent", traceID, parent)
			}
			if len(server.Links) != 1 || harness.HexID(server.Links[0].TraceId) != sentTrace || harness.HexID(server.Links[0].SpanId) != sentSpan {
				t.Errorf("links %v, want one to the browser's %s/%s", server.Links, sentTrace, sentSpan)
			}
			if toUpstream == "" || strings.Contains(toUpstream, sentTrace) {
				t.Errorf("the upstream received traceparent %q, want one of the service's own trace", toUpstream)
			}
		})
	}
}

// TestTracingBaggageStaysOutside sends baggage as a browser can and sees
// that the session upstream, which receives the trace context, receives no
// baggage: what a visitor writes there must not reach the site's backend.
func TestTracingBaggageStaysOutside(t *testing.T) {
	t.Parallel()
	upstream := annUpstream(t)
	svc, _ := tracedService(t, upstream.URL, nil)
	getToken(t, svc.URL+"/token", http.Header{"Baggage": {"role=admin,tenant=other"}})

	received := upstream.Received()
	if len(received) != 1 || received[0].Header.Get("Traceparent") == "" {
		t.Fatalf("the upstream received %d requests, want 1 with trace context", len(received))
	}
	if got := received[0].Header.Values("Baggage"); len(got) != 0 {
		t.Errorf("the upstream received baggage %q", got)
	}
}

// TestTracingRedactsURLs configures an introspection URL carrying a
// password and an API key and requests /token with a query secret: the
// upstream span's URL keeps only scheme, host and path, and none of the
// three reaches the exported spans, though the upstream is called with the
// URL as configured.
func TestTracingRedactsURLs(t *testing.T) {
	t.Parallel()
	const password, apiKey, secret = "pw-8f3a1c", "key-5d9e27", "secret-b41f06"
	upstream := annUpstream(t)
	host := strings.TrimPrefix(upstream.URL, "http://")
	svc, rx := tracedService(t, "http://user:"+password+"@"+host+"/me?api_key="+apiKey, nil)
	getToken(t, svc.URL+"/token?secret="+secret, nil)

	if got := upstream.Received()[0].URL.Query().Get("api_key"); got != apiKey {
		t.Fatalf("the upstream received api_key %q, want the configured one", got)
	}
	client := rx.WaitFor(t, "upstream span", harness.ClientSpan)
	if got, _ := harness.SpanAttr(client, "url.full"); got != upstream.URL+"/me" {
		t.Errorf("upstream span url.full %q, want %q", got, upstream.URL+"/me")
	}
	server := rx.WaitFor(t, "request span", harness.ServerSpan)
	if got, _ := harness.SpanAttr(server, "url.path"); got != "/token" {
		t.Errorf("request span url.path %q, want /token", got)
	}
	raw := rx.Raw()
	for _, s := range []string{password, apiKey, secret} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("%q is in the exported spans", s)
		}
	}
}

// TestTracingBoundsClientChosenValues sends an unknown 1,000-byte method
// with a 5,000-byte user agent: the span's name holds only _OTHER, and
// every attribute the client chose is cut to 256 bytes, so no request can
// make a span large.
func TestTracingBoundsClientChosenValues(t *testing.T) {
	t.Parallel()
	upstream := annUpstream(t)
	svc, rx := tracedService(t, upstream.URL, nil)
	req, err := http.NewRequest(strings.Repeat("M", 1000), svc.URL+"/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", strings.Repeat("u", 5000))
	if resp, body := harness.Send(t, req); resp.StatusCode != http.StatusNotImplemented {
		t.Fatalf("unknown method: %d %s, want 501", resp.StatusCode, body)
	}

	server := rx.WaitFor(t, "request span", harness.ServerSpan)
	if server.Name != "chattoken _OTHER" {
		t.Errorf("span name %.40q…, want chattoken _OTHER", server.Name)
	}
	for _, key := range []string{"user_agent.original", "http.request.method_original"} {
		if got, _ := harness.SpanAttr(server, key); len(got) != 256 {
			t.Errorf("%s is %d bytes, want cut to 256", key, len(got))
		}
	}
}

// TestTracingClientAddressIsTheTrustedClient forges X-Forwarded-For: from
// an untrusted peer the span's client is the peer itself; behind a trusted
// proxy it is the hop the proxy appended (the right-most), never the
// left-most one a client may have written, which otelhttp would pick.
func TestTracingClientAddressIsTheTrustedClient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, want string
		trusted    bool
	}{{"untrusted peer", "127.0.0.1", false}, {"trusted proxy", "203.0.113.7", true}} {
		trusted, want := tc.trusted, tc.want
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			upstream := annUpstream(t)
			svc, rx := tracedService(t, upstream.URL, trustedLoopback(trusted))
			getToken(t, svc.URL+"/token", http.Header{"X-Forwarded-For": {"198.51.100.9, 203.0.113.7"}})

			server := rx.WaitFor(t, "request span", harness.ServerSpan)
			if got, _ := harness.SpanAttr(server, "client.address"); got != want {
				t.Errorf("client.address %q, want %q", got, want)
			}
		})
	}
}
