package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chattoken/chattoken/test/harness"
)

// TestSubjectFormatGUID: with CHATTOKEN_SUBJECT_FORMAT=guid a subject that
// is not a Dataverse-style GUID is the upstream breaking its contract (502,
// the reason in the log), and a GUID passes unchanged.
func TestSubjectFormatGUID(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	const guid = "0f8fad5b-d9cb-469f-a165-70867728950e"
	upstream.AddSession("ann", `{"contact":{"id":"`+guid+`","email":"ann@shop.example"}}`)
	upstream.AddSession("bob", `{"contact":{"id":"c-bob","email":"bob@shop.example"}}`)
	env, key := rsaEnv(t, upstream)
	env["CHATTOKEN_SUBJECT_FORMAT"] = "guid"
	svc := harness.Start(t, env)

	if sub := tokenClaims(t, svc, key, "ann")["sub"]; sub != guid {
		t.Fatalf("sub %v, want %s", sub, guid)
	}

	resp, body := harness.Do(t, http.MethodGet, svc.URL+"/token", "bob", "", "")
	var p struct{ Code, Detail string }
	_ = json.Unmarshal(body, &p)
	if resp.StatusCode != http.StatusBadGateway || p.Code != "invalid_session_document" || strings.Contains(p.Detail, "c-bob") {
		t.Fatalf("a subject that is not a GUID: %d %s, want 502 invalid_session_document", resp.StatusCode, body)
	}
	if logs := svc.Logs("not a GUID"); !strings.Contains(logs, "not a GUID") {
		t.Errorf("the log does not say why:\n%s", logs)
	}
}
