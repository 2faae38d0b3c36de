package integration

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/test/harness"
)

// widgetsFile defines two widgets on different workstreams, and no default
// one: sales, typed, with the cart from the session and the page from the
// browser; support, in the string encoding, with the VIP flag (required,
// shown to the agent) and a case number from the browser.
const widgetsFile = `{"widgets": {
  "sales":   {"encoding": "typed", "variables": {
    "msdyn_cartvalue": {"type": "number", "source": "session", "field": "cart.total"},
    "msdyn_pageurl":   {"type": "text",   "source": "request"}}},
  "support": {"encoding": "string", "variables": {
    "msdyn_isvip":      {"type": "boolean", "source": "session", "field": "vip", "required": true, "display": true},
    "msdyn_casenumber": {"type": "text",    "source": "request", "pattern": "CAS-[0-9]+"}}}
}}`

// widgetsService starts the binary with widgetsFile and ann signed in.
func widgetsService(t *testing.T, extra map[string]string) (*harness.Service, *harness.SessionUpstream, map[string]string, *rsa.PrivateKey) {
	t.Helper()
	upstream := harness.NewSessionUpstream(t)
	upstream.AddSession("ann", `{"contact":{"id":"c-ann"},"cart":{"total":12.5},"vip":true}`)
	env, key := rsaEnv(t, upstream)
	env["CHATTOKEN_CONTEXT_FILE"] = harness.WriteFile(t, "context.json", []byte(widgetsFile))
	for k, v := range extra {
		env[k] = v
	}
	return harness.Start(t, env), upstream, env, key
}

// widgetURL is the token URL for widget.
func widgetURL(svc *harness.Service, widget string) string {
	return svc.URL + "/token?widget=" + url.QueryEscape(widget)
}

func TestWidgetsHaveTheirOwnContext(t *testing.T) {
	t.Parallel()
	svc, upstream, _, key := widgetsService(t, nil)

	// Sales first: the session document it caches must keep what support
	// reads too, or support's required VIP flag would be missing.
	got, _ := lwicontextsAt(t, widgetURL(svc, "sales"), key, "ann", `{"context":{"msdyn_pageurl":"https://shop.example/cart"}}`)
	if want := `{"msdyn_cartvalue":12.5,"msdyn_pageurl":"https://shop.example/cart"}`; got != want {
		t.Errorf("sales: lwicontexts = %s, want %s", got, want)
	}
	got, _ = lwicontextsAt(t, widgetURL(svc, "support"), key, "ann", `{"context":{"msdyn_casenumber":"CAS-7"}}`)
	if want := `{"msdyn_casenumber":"CAS-7","msdyn_isvip":{"value":"true","isDisplayable":true}}`; got != want {
		t.Errorf("support: lwicontexts = %s, want %s", got, want)
	}
	if n := len(upstream.Received()); n != 1 {
		t.Errorf("the upstream was asked %d times, want once (the second widget is served from the session cache)", n)
	}
	// One widget's request variable is unknown to the other.
	checkRefusalAt(t, widgetURL(svc, "sales"), "ann", "application/json", `{"context":{"msdyn_casenumber":"CAS-7"}}`,
		http.StatusBadRequest, "invalid_context", `"msdyn_casenumber" is not in the context schema`)

	logs := svc.Logs(`"widget":"sales"`, `"widget":"support"`)
	for _, want := range []string{`"widget":"sales"`, `"widget":"support"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the access log lacks %s:\n%s", want, logs)
		}
	}
}

// TestWidgetUnknownCostsNoUpstreamCall: a widget the file does not define,
// or none when there is no default widget, is refused before the session is
// asked, and the browser's name never reaches the log.
func TestWidgetUnknownCostsNoUpstreamCall(t *testing.T) {
	t.Parallel()
	svc, upstream, _, _ := widgetsService(t, nil)
	long := strings.Repeat("marketing", 30)
	tests := []struct {
		name, url, detail string
	}{
		{"unknown", widgetURL(svc, "marketing"), "no widget has that name; the widgets are: sales, support"},
		{"another case", widgetURL(svc, "Sales"), "no widget has that name"},
		{"long", widgetURL(svc, long), "no widget has that name"},
		{"a forged log field", widgetURL(svc, `marketing","level":"error`), "no widget has that name"},
		{"none, and no default widget", svc.URL + "/token", `none is called "default"; name one of: sales, support`},
		{"empty, and no default widget", svc.URL + "/token?widget=", `none is called "default"`},
	}
	for _, tt := range tests {
		checkRefusalAt(t, tt.url, "ann", "", "", http.StatusBadRequest, "unknown_widget", tt.detail)
	}
	if n := len(upstream.Received()); n != 0 {
		t.Errorf("the upstream was asked %d times for unknown widgets, want never", n)
	}
	if logs := svc.Logs(`"code":"unknown_widget"`); strings.Contains(logs, "marketing") || strings.Contains(logs, `"widget"`) {
		t.Errorf("the log names a widget the file does not define:\n%s", logs)
	}
}

// TestWidgetsTokenReuseAndSubjectLimit: a widget asking again gets its
// token again, another widget's context gets another token, and the
// per-subject limit counts the person, whichever widget asks.
func TestWidgetsTokenReuseAndSubjectLimit(t *testing.T) {
	t.Parallel()
	svc, _, _, _ := widgetsService(t, map[string]string{"CHATTOKEN_RATE_LIMIT_SUBJECT": "3"})
	token := func(widget string) (int, string) {
		t.Helper()
		resp, data := harness.Do(t, http.MethodGet, widgetURL(svc, widget), "ann", "", "")
		var answer struct{ Token string }
		_ = json.Unmarshal(data, &answer)
		return resp.StatusCode, answer.Token
	}
	_, sales := token("sales")
	_, again := token("sales")
	_, support := token("support")
	if sales == "" || again != sales {
		t.Error("the same widget asking again got a new token")
	}
	if support == "" || support == sales {
		t.Error("the support widget got the sales widget's token")
	}
	if status, _ := token("sales"); status != http.StatusTooManyRequests {
		t.Errorf("a fourth token for the same person across widgets: %d, want 429", status)
	}
}

func TestWidgetsFileRefusedAtStart(t *testing.T) {
	t.Parallel()
	good := `{"variables": {}}`
	checkContextFileRefusals(t, []contextFileRefusal{
		{"no widget", `{"widgets": {}}`, `CHATTOKEN_CONTEXT_FILE: "widgets" is empty`},
		{"widgets beside variables", `{"widgets": {"sales": ` + good + `}, "variables": {}}`, `CHATTOKEN_CONTEXT_FILE: a file with "widgets" has no other member`},
		{"a broken variable", `{"widgets": {"sales": ` + good + `, "support": {"variables": {"msdyn_x": {"type": "date", "source": "request"}}}}}`,
			`CHATTOKEN_CONTEXT_FILE: widget "support": context variable "msdyn_x": type must be`},
		{"a widget without variables", `{"widgets": {"sales": {"encoding": "typed"}}}`, `CHATTOKEN_CONTEXT_FILE: widget "sales": "variables" is missing`},
		{"a bad widget name", `{"widgets": {"sales team": ` + good + `}}`, `CHATTOKEN_CONTEXT_FILE: widget "sales team": a widget name is`},
	})
}

// TestMintForAWidget: chattoken mint --widget signs with that widget's
// schema, as /token?widget= does.
func TestMintForAWidget(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	env, key := rsaEnv(t, upstream)
	env["CHATTOKEN_CONTEXT_FILE"] = harness.WriteFile(t, "context.json", []byte(widgetsFile))
	mint := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(harness.Binary, append([]string{"mint", "--sub", "c-ann", "--session", `{"vip":false}`}, args...)...)
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, _ := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), cmd.ProcessState.ExitCode()
	}
	raw, code := mint("--widget", "support", "--context", `{"msdyn_casenumber":"CAS-7"}`)
	if code != 0 {
		t.Fatalf("mint --widget support: exit %d: %s", code, raw)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"})); err != nil {
		t.Fatalf("the minted token does not verify: %v", err)
	}
	if got, want := claims["lwicontexts"], `{"msdyn_casenumber":"CAS-7","msdyn_isvip":{"value":"false","isDisplayable":true}}`; got != want {
		t.Errorf("lwicontexts = %v, want %s", got, want)
	}
	for _, args := range [][]string{{"--widget", "marketing"}, nil} {
		if out, code := mint(args...); code != 2 || !strings.Contains(out, "mint: --widget: ") {
			t.Errorf("mint %v: exit %d %q, want 2 and a message about --widget", args, code, out)
		}
	}
}
