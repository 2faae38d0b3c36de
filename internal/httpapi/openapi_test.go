package httpapi

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/go-chi/chi/v5"
	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/chattoken/chattoken/internal/jsondoc"
	"github.com/chattoken/chattoken/internal/keys"
	"github.com/chattoken/chattoken/internal/lwicontext"
	"github.com/chattoken/chattoken/internal/session"
	chattoken "github.com/chattoken/chattoken/internal/token"
	"github.com/chattoken/chattoken/internal/web"
)

// These tests hold api/openapi.yaml and the handlers to each other: every
// route is in the document and every operation is routed, and real answers
// of the real server (NewServer) validate against the document, so neither
// can change without the other.

const openapiSpecFile = "../../api/openapi.yaml"

// kin-openapi decodes only the body types it knows; /client.js is text.
func init() {
	openapi3filter.RegisterBodyDecoder("text/javascript", openapi3filter.PlainBodyDecoder)
}

// openapiFakeSource is a session.Source whose answer each test chooses.
type openapiFakeSource struct {
	lookup func(context.Context, *http.Request) (jsondoc.Document, error)
}

var _ session.Source = openapiFakeSource{}

func (s openapiFakeSource) Lookup(ctx context.Context, r *http.Request) (jsondoc.Document, error) {
	return s.lookup(ctx, r)
}

// openapiSignedIn answers as the session backend does for a signed-in user.
func openapiSignedIn(context.Context, *http.Request) (jsondoc.Document, error) {
	return jsondoc.Document{
		"sub":     "contact-1",
		"email":   "ada@shop.example",
		"profile": map[string]any{"points": json.Number("1200"), "vip": true},
	}, nil
}

func openapiDocument(doc jsondoc.Document) func(context.Context, *http.Request) (jsondoc.Document, error) {
	return func(context.Context, *http.Request) (jsondoc.Document, error) { return doc, nil }
}

func openapiFailing(err error) func(context.Context, *http.Request) (jsondoc.Document, error) {
	return func(context.Context, *http.Request) (jsondoc.Document, error) { return nil, err }
}

var openapiRSA = sync.OnceValues(func() (*keys.Set, error) {
	key, err := keys.GenerateRSA(2048)
	if err != nil {
		return nil, err
	}
	return keys.NewRSASet(key)
})

func openapiRSASet(t *testing.T) *keys.Set {
	t.Helper()
	set, err := openapiRSA()
	if err != nil {
		t.Fatalf("generating the RSA key set: %v", err)
	}
	return set
}

// openapiRSAPair is two more RSA keys, for the key directory cases.
var openapiRSAPair = sync.OnceValues(func() ([2]*rsa.PrivateKey, error) {
	var pair [2]*rsa.PrivateKey
	for i := range pair {
		key, err := keys.GenerateRSA(2048)
		if err != nil {
			return pair, err
		}
		pair[i] = key
	}
	return pair, nil
})

// openapiKeyDir writes each key as a PKCS#8 PEM file of mode 0600 under its
// name into a new directory, and loads that directory as the service does
// (CHATTOKEN_SIGNING_KEY_FILE naming a directory).
func openapiKeyDir(t *testing.T, files map[string]*rsa.PrivateKey) *keys.Set {
	t.Helper()
	dir := t.TempDir()
	for name, key := range files {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatalf("encoding %s: %v", name, err)
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatalf("writing %s: %v", name, err)
		}
	}
	set, err := keys.Load(dir, "RS256", keys.Options{})
	if err != nil {
		t.Fatalf("loading the key directory: %v", err)
	}
	return set
}

func openapiHMACSet(t *testing.T) *keys.Set {
	t.Helper()
	set, err := keys.NewHMACSet([]byte(strings.Repeat("s3cret-", 6)))
	if err != nil {
		t.Fatalf("building the HMAC key set: %v", err)
	}
	return set
}

func openapiPath(t *testing.T, s string) jsondoc.Path {
	t.Helper()
	p, err := jsondoc.ParsePath(s)
	if err != nil {
		t.Fatalf("ParsePath(%q): %v", s, err)
	}
	return p
}

const (
	openapiIssuer    = "https://shop.example"
	openapiTTL       = 15 * time.Minute
	openapiClockSkew = 30 * time.Second
)

// openapiDeps builds the server's dependencies around set and a fake
// session source.
func openapiDeps(t *testing.T, set *keys.Set, lookup func(context.Context, *http.Request) (jsondoc.Document, error), ready bool) Deps {
	t.Helper()
	if lookup == nil {
		lookup = openapiSignedIn
	}
	readyFlag := new(atomic.Bool)
	readyFlag.Store(ready)
	current := func() *keys.Set { return set }
	return Deps{
		Log:      zerolog.Nop(),
		Sessions: openapiFakeSource{lookup: lookup},
		Minter: &chattoken.Minter{
			Issuer:    openapiIssuer,
			TTL:       openapiTTL,
			ClockSkew: openapiClockSkew,
			Keys:      current,
			Now:       time.Now,
		},
		Keys: current,
		Claims: chattoken.Assembler{
			Subject: openapiPath(t, "sub"),
			Identity: []jsondoc.Field{
				{Name: "email", Path: openapiPath(t, "email")},
				{Name: "loyalty_points", Path: openapiPath(t, "profile.points")},
				{Name: "vip", Path: openapiPath(t, "profile.vip")},
			},
		},
		Ready: readyFlag,
	}
}

// openapiAllowedOrigin is the one origin listed in the CORS cases;
// openapiOtherOrigin is not listed.
const (
	openapiAllowedOrigin = "https://shop.example"
	openapiOtherOrigin   = "https://evil.example"
)

// openapiContextMaxBytes is the claim limit of openapiContextSchema: small,
// so that one long request value or session value crosses it.
const openapiContextMaxBytes = 256

// openapiContextSchema returns a small context schema with variables of
// each source: a static text; three session variables (a required boolean,
// an optional number and an optional text); and a request text with a
// max_length of 200 and a pattern. extra is appended to its variables.
func openapiContextSchema(t *testing.T, encoding, extra string) *lwicontext.Widgets {
	t.Helper()
	data := `{"encoding": "` + encoding + `", "variables": {
		"msdyn_channel": {"type": "text", "source": "static", "value": "web"},
		"msdyn_isvip":   {"type": "boolean", "source": "session", "field": "profile.vip", "required": true},
		"msdyn_points":  {"type": "number", "source": "session", "field": "profile.points"},
		"msdyn_name":    {"type": "text", "source": "session", "field": "profile.name"},
		"msdyn_pageurl": {"type": "text", "source": "request", "max_length": 200, "pattern": "https://.*"}` + extra + `
	}}`
	return openapiParseContext(t, data)
}

func openapiParseContext(t *testing.T, data string) *lwicontext.Widgets {
	t.Helper()
	w, err := lwicontext.Parse([]byte(data), openapiContextMaxBytes)
	if err != nil {
		t.Fatalf("parsing the test context schema: %v", err)
	}
	return w
}

// openapiWidgets returns a schema file of two widgets with their own
// variables and encodings: "sales", typed, with the session's points;
// "support", in the string encoding, with a request case number and the
// VIP flag displayed to the agent. withDefault adds a "default" widget with
// only a static channel.
func openapiWidgets(t *testing.T, withDefault bool) *lwicontext.Widgets {
	t.Helper()
	other := ""
	if withDefault {
		other = `, "default": {"variables": {"msdyn_channel": {"type": "text", "source": "static", "value": "web"}}}`
	}
	return openapiParseContext(t, `{"widgets": {
		"sales":   {"encoding": "typed", "variables": {
			"msdyn_points": {"type": "number", "source": "session", "field": "profile.points"}}},
		"support": {"variables": {
			"msdyn_casenumber": {"type": "text", "source": "request", "pattern": "CAS-[0-9]+"},
			"msdyn_isvip":      {"type": "boolean", "source": "session", "field": "profile.vip", "display": true}}}`+other+`
	}}`)
}

// openapiLoad loads api/openapi.yaml and checks it is a valid OpenAPI
// document.
func openapiLoad(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(openapiSpecFile)
	if err != nil {
		t.Fatalf("loading %s: %v", openapiSpecFile, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", openapiSpecFile, err)
	}
	return doc
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := openapiLoad(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Errorf("openapi = %q, want 3.0.x", doc.OpenAPI)
	}
	for _, name := range []string{"Problem", "ErrorCode", "TokenRequest", "TokenResponse", "TokenHeader", "TokenClaims", "JWKS"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("components.schemas.%s is missing", name)
		}
	}
}

// TestOpenAPIErrorCodesMatchCode compares the ErrorCode enum with the Code*
// constants of this package, read from its source so that a new code cannot
// be added without documenting it.
func TestOpenAPIErrorCodesMatchCode(t *testing.T) {
	doc := openapiLoad(t)
	var documented []string
	for _, v := range doc.Components.Schemas["ErrorCode"].Value.Enum {
		documented = append(documented, fmt.Sprint(v))
	}
	sort.Strings(documented)

	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var inCode []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatalf("parsing %s: %v", name, err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if !strings.HasPrefix(id.Name, "Code") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					s, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatalf("%s: %v", id.Name, err)
					}
					inCode = append(inCode, s)
				}
			}
		}
	}
	sort.Strings(inCode)
	if !slices.Equal(documented, inCode) {
		t.Errorf("ErrorCode enum in %s = %v\nCode* constants in package httpapi = %v", openapiSpecFile, documented, inCode)
	}
}

// TestOpenAPIRoutesMatchCode checks that every route NewServer registers has
// an operation in the document, and every operation a route.
func TestOpenAPIRoutesMatchCode(t *testing.T) {
	doc := openapiLoad(t)
	mux, ok := NewServer(openapiDeps(t, openapiRSASet(t), nil, true)).(*chi.Mux)
	if !ok {
		t.Fatalf("NewServer returned a %T, want *chi.Mux", NewServer(openapiDeps(t, openapiRSASet(t), nil, true)))
	}
	routed := map[string]bool{}
	err := chi.Walk(mux, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routed[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatalf("walking the router: %v", err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}

	for r := range routed {
		if !documented[r] {
			t.Errorf("route %s is served but has no operation in %s", r, openapiSpecFile)
		}
	}
	for d := range documented {
		if routed[d] {
			continue
		}
		// HEAD is answered wherever GET is routed (middleware.GetHead).
		if path, ok := strings.CutPrefix(d, http.MethodHead+" "); ok && routed[http.MethodGet+" "+path] {
			continue
		}
		t.Errorf("operation %s is in %s but no route serves it", d, openapiSpecFile)
	}
	if len(routed) == 0 {
		t.Error("chi.Walk found no routes")
	}
}

// openapiCase is one real request and what the server must answer.
type openapiCase struct {
	name        string
	method      string
	path        string
	contentType string
	header      map[string]string
	body        string

	hmac         bool      // sign with an HS256 secret instead of RSA
	keys         *keys.Set // sign and publish with this set instead of the default RSA one
	brokenSigner bool      // the minter's key set cannot sign
	notReady     bool
	lookup       func(context.Context, *http.Request) (jsondoc.Document, error)
	context      *lwicontext.Widgets // nil: no context schema
	corsOrigins  []string

	// routeErr is the router's verdict for a path or method the document
	// does not list; the answer is then validated against the component
	// response named by fallback.
	routeErr error
	fallback string
	// specRejects says the document itself refuses the request (the server
	// refuses it too, by its status).
	specRejects bool

	wantStatus int
	wantCode   string   // the problem's code; empty for a success
	wantDetail []string // substrings of the problem's detail
	check      func(t *testing.T, doc *openapi3.T, res *http.Response, body []byte)
}

func TestOpenAPIContract(t *testing.T) {
	doc := openapiLoad(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("building the router: %v", err)
	}
	rsaSet := openapiRSASet(t)
	ctxString := openapiContextSchema(t, lwicontext.EncodingString, "")
	ctxTyped := openapiContextSchema(t, lwicontext.EncodingTyped, "")
	ctxRequired := openapiContextSchema(t, lwicontext.EncodingString,
		`, "msdyn_locale": {"type": "text", "source": "request", "required": true, "enum": ["en", "fr"]}`)
	widgets := openapiWidgets(t, true)
	widgetsNoDefault := openapiWidgets(t, false)
	ctxDisplay := func(encoding string) *lwicontext.Widgets {
		return openapiContextSchema(t, encoding, `, "msdyn_pageurl_shown": {"type": "text", "source": "request", "display": true},
			"msdyn_points_shown": {"type": "number", "source": "session", "field": "profile.points", "display": true}`)
	}
	cors := []string{openapiAllowedOrigin}
	fromAllowed := map[string]string{"Origin": openapiAllowedOrigin}
	fromOther := map[string]string{"Origin": openapiOtherOrigin}
	preflight := func(origin, method, headers string) map[string]string {
		h := map[string]string{"Origin": origin, "Access-Control-Request-Method": method}
		if headers != "" {
			h["Access-Control-Request-Headers"] = headers
		}
		return h
	}
	unauthenticated := openapiFailing(fmt.Errorf("upstream answered 401: %w", session.ErrUnauthenticated))
	unavailable := openapiFailing(fmt.Errorf("upstream timed out: %w", session.ErrUnavailable))
	// withProfile is the signed-in document with profile replaced.
	withProfile := func(profile map[string]any) func(context.Context, *http.Request) (jsondoc.Document, error) {
		return openapiDocument(jsondoc.Document{"sub": "contact-1", "email": "ada@shop.example", "profile": profile})
	}
	longURL := "https://shop.example/" + strings.Repeat("a", 200-len("https://shop.example/"))

	// A key directory with one key, and one with a second key published
	// ahead of signing: 1.pem signs in both.
	pair, err := openapiRSAPair()
	if err != nil {
		t.Fatalf("generating RSA keys: %v", err)
	}
	signer, next := &pair[0].PublicKey, &pair[1].PublicKey
	oneKey := openapiKeyDir(t, map[string]*rsa.PrivateKey{"1.pem": pair[0]})
	twoKeys := openapiKeyDir(t, map[string]*rsa.PrivateKey{"1.pem": pair[0], "2.next.pem": pair[1]})
	if oneKey.Published.Several || !twoKeys.Published.Several || twoKeys.Signer.KID != keys.Thumbprint(signer) {
		t.Fatalf("key directories: one key Several=%v, two keys Several=%v signer %q, want false, true, %q",
			oneKey.Published.Several, twoKeys.Published.Several, twoKeys.Signer.KID, keys.Thumbprint(signer))
	}
	clientJS := newTaggedBody(web.ClientJS)

	cases := []openapiCase{
		{name: "GET token", method: http.MethodGet, path: "/token",
			wantStatus: http.StatusOK, check: openapiCheckToken(rsaSet, "")},
		{name: "POST token without a body", method: http.MethodPost, path: "/token",
			wantStatus: http.StatusOK, check: openapiCheckToken(rsaSet, "")},
		{name: "POST token with an empty context", method: http.MethodPost, path: "/token",
			contentType: "application/json; charset=utf-8", body: `{"context":{}}`,
			wantStatus: http.StatusOK, check: openapiCheckToken(rsaSet, "")},
		{name: "POST token with an empty object", method: http.MethodPost, path: "/token",
			contentType: "application/json", body: `{}`,
			wantStatus: http.StatusOK, check: openapiCheckToken(rsaSet, "")},
		{name: "GET token signed with HS256", method: http.MethodGet, path: "/token", hmac: true,
			wantStatus: http.StatusOK, check: openapiCheckToken(openapiHMACSet(t), "")},
		{name: "GET token while two keys are published", method: http.MethodGet, path: "/token", keys: twoKeys,
			wantStatus: http.StatusOK,
			check:      openapiAll(openapiCheckToken(twoKeys, ""), openapiCheckKIDInArray(twoKeys))},
		{name: "not signed in", method: http.MethodGet, path: "/token",
			lookup:     openapiFailing(fmt.Errorf("upstream answered 401: %w", session.ErrUnauthenticated)),
			wantStatus: http.StatusUnauthorized, wantCode: CodeUnauthenticated},
		{name: "POST not signed in", method: http.MethodPost, path: "/token",
			contentType: "application/json", body: `{}`,
			lookup:     openapiFailing(fmt.Errorf("upstream redirected: %w", session.ErrUnauthenticated)),
			wantStatus: http.StatusUnauthorized, wantCode: CodeUnauthenticated},
		{name: "session backend unavailable", method: http.MethodGet, path: "/token",
			lookup:     openapiFailing(fmt.Errorf("upstream timed out: %w", session.ErrUnavailable)),
			wantStatus: http.StatusServiceUnavailable, wantCode: CodeSessionUnavailable},
		{name: "session document without sub", method: http.MethodGet, path: "/token",
			lookup:     openapiDocument(jsondoc.Document{"email": "ada@shop.example"}),
			wantStatus: http.StatusBadGateway, wantCode: CodeInvalidSessionDocument},
		{name: "session document with a numeric sub", method: http.MethodPost, path: "/token",
			lookup:     openapiDocument(jsondoc.Document{"sub": json.Number("42")}),
			wantStatus: http.StatusBadGateway, wantCode: CodeInvalidSessionDocument},
		{name: "session document with an object identity claim", method: http.MethodGet, path: "/token",
			lookup:     openapiDocument(jsondoc.Document{"sub": "contact-1", "email": map[string]any{"x": "y"}}),
			wantStatus: http.StatusBadGateway, wantCode: CodeInvalidSessionDocument},
		{name: "signing fails", method: http.MethodGet, path: "/token", brokenSigner: true,
			wantStatus: http.StatusInternalServerError, wantCode: CodeInternal},
		{name: "body is not JSON", method: http.MethodPost, path: "/token",
			contentType: "application/json", body: `{"context":`, specRejects: true,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},
		{name: "body has an unknown member", method: http.MethodPost, path: "/token",
			contentType: "application/json", body: `{"ctx":{"a":"b"}}`, specRejects: true,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},
		{name: "body is an array", method: http.MethodPost, path: "/token",
			contentType: "application/json", body: `[]`, specRejects: true,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},
		{name: "context is not an object", method: http.MethodPost, path: "/token",
			contentType: "application/json", body: `{"context":["a"]}`, specRejects: true,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},
		{name: "context variable not in the schema", method: http.MethodPost, path: "/token",
			contentType: "application/json", body: `{"context":{"msdyn_pageurl":"https://shop.example/cart"}}`,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext},
		{name: "context value is null", method: http.MethodPost, path: "/token",
			contentType: "application/json", body: `{"context":{"msdyn_pageurl":null}}`, specRejects: true,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext},
		{name: "context value is an object", method: http.MethodPost, path: "/token",
			contentType: "application/json", body: `{"context":{"msdyn_pageurl":{"a":1}}}`, specRejects: true,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext},
		{name: "body is null", method: http.MethodPost, path: "/token",
			contentType: "application/json", body: `null`, specRejects: true,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},
		{name: "context is null", method: http.MethodPost, path: "/token",
			contentType: "application/json", body: `{"context":null}`, specRejects: true,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},

		// Context variables, against a schema with a variable of each source.
		{name: "GET token with a context schema", method: http.MethodGet, path: "/token", context: ctxString,
			wantStatus: http.StatusOK,
			check:      openapiCheckToken(rsaSet, `{"msdyn_channel":"web","msdyn_isvip":"true","msdyn_points":"1200"}`)},
		{name: "POST token with request context", method: http.MethodPost, path: "/token", context: ctxString,
			contentType: "application/json", body: `{"context":{"msdyn_pageurl":"https://shop.example/cart"}}`,
			wantStatus: http.StatusOK,
			check: openapiCheckToken(rsaSet,
				`{"msdyn_channel":"web","msdyn_isvip":"true","msdyn_pageurl":"https://shop.example/cart","msdyn_points":"1200"}`)},
		{name: "POST token with request context, typed encoding", method: http.MethodPost, path: "/token", context: ctxTyped,
			contentType: "application/json", body: `{"context":{"msdyn_pageurl":"https://shop.example/cart"}}`,
			lookup:     withProfile(map[string]any{"vip": false, "points": json.Number("1.25e4"), "name": "Ada"}),
			wantStatus: http.StatusOK,
			check: openapiCheckTokenContext(
				`{"msdyn_channel":"web","msdyn_isvip":false,"msdyn_name":"Ada","msdyn_pageurl":"https://shop.example/cart","msdyn_points":12500}`)},
		{name: "context variable not in the schema, before the session is asked", method: http.MethodPost, path: "/token",
			context: ctxString, lookup: unauthenticated,
			contentType: "application/json", body: `{"context":{"msdyn_unknown":"x"}}`,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext,
			wantDetail: []string{`"msdyn_unknown"`, "not in the context schema", "msdyn_pageurl"}},
		{name: "context sets a session variable", method: http.MethodPost, path: "/token", context: ctxString,
			contentType: "application/json", body: `{"context":{"msdyn_isvip":true}}`,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext,
			wantDetail: []string{`"msdyn_isvip"`, "cannot be set by the request"}},
		{name: "context sets a static variable", method: http.MethodPost, path: "/token", context: ctxString,
			contentType: "application/json", body: `{"context":{"msdyn_channel":"mobile"}}`,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext,
			wantDetail: []string{`"msdyn_channel"`, "cannot be set by the request"}},
		{name: "context value of the wrong type", method: http.MethodPost, path: "/token", context: ctxString,
			contentType: "application/json", body: `{"context":{"msdyn_pageurl":42}}`,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext,
			wantDetail: []string{`"msdyn_pageurl"`, "not a number"}},
		{name: "context value over max_length", method: http.MethodPost, path: "/token", context: ctxString,
			contentType: "application/json", body: `{"context":{"msdyn_pageurl":"` + longURL + `a"}}`,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext,
			wantDetail: []string{`"msdyn_pageurl"`, "at most 200"}},
		{name: "context value outside the pattern", method: http.MethodPost, path: "/token", context: ctxString,
			contentType: "application/json", body: `{"context":{"msdyn_pageurl":"ftp://shop.example/"}}`,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext,
			wantDetail: []string{`"msdyn_pageurl"`, "pattern"}},
		{name: "context value outside the enum", method: http.MethodPost, path: "/token", context: ctxRequired,
			contentType: "application/json", body: `{"context":{"msdyn_locale":"de"}}`,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext,
			wantDetail: []string{`"msdyn_locale"`, "not one of the allowed values"}},
		{name: "schema context value is null", method: http.MethodPost, path: "/token", context: ctxString,
			contentType: "application/json", body: `{"context":{"msdyn_pageurl":null}}`, specRejects: true,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext,
			wantDetail: []string{`"msdyn_pageurl"`, "null"}},
		{name: "schema context value is an array", method: http.MethodPost, path: "/token", context: ctxString,
			contentType: "application/json", body: `{"context":{"msdyn_pageurl":["https://shop.example/"]}}`, specRejects: true,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext,
			wantDetail: []string{`"msdyn_pageurl"`, "not an object or array"}},
		{name: "required request variable absent", method: http.MethodGet, path: "/token", context: ctxRequired,
			lookup:     unauthenticated,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext,
			wantDetail: []string{`"msdyn_locale"`, "is required"}},
		{name: "request values over the claim limit", method: http.MethodPost, path: "/token", context: ctxString,
			contentType: "application/json", body: `{"context":{"msdyn_pageurl":"` + longURL + `"}}`,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext,
			wantDetail: []string{fmt.Sprintf("the limit is %d", openapiContextMaxBytes)}},
		{name: "session context value of the wrong type", method: http.MethodGet, path: "/token", context: ctxString,
			lookup:     withProfile(map[string]any{"vip": "yes"}),
			wantStatus: http.StatusBadGateway, wantCode: CodeInvalidSessionDocument},
		{name: "session context value is an object", method: http.MethodPost, path: "/token", context: ctxString,
			lookup:     withProfile(map[string]any{"vip": true, "name": map[string]any{"first": "Ada"}}),
			wantStatus: http.StatusBadGateway, wantCode: CodeInvalidSessionDocument},
		{name: "required session context variable absent", method: http.MethodGet, path: "/token", context: ctxString,
			lookup:     withProfile(map[string]any{"points": json.Number("3")}),
			wantStatus: http.StatusBadGateway, wantCode: CodeInvalidSessionDocument},
		{name: "required session context variable null", method: http.MethodGet, path: "/token", context: ctxString,
			lookup:     withProfile(map[string]any{"vip": nil}),
			wantStatus: http.StatusBadGateway, wantCode: CodeInvalidSessionDocument},
		{name: "session values over the claim limit", method: http.MethodPost, path: "/token", context: ctxString,
			contentType: "application/json", body: `{"context":{"msdyn_pageurl":"https://shop.example/"}}`,
			lookup:     withProfile(map[string]any{"vip": true, "name": strings.Repeat("n", openapiContextMaxBytes)}),
			wantStatus: http.StatusBadGateway, wantCode: CodeInvalidSessionDocument},

		// Widgets: each has its own schema; which one is read from the
		// query before the session is asked.
		{name: "GET token for a widget", method: http.MethodGet, path: "/token?widget=sales", context: widgets,
			wantStatus: http.StatusOK, check: openapiCheckToken(rsaSet, `{"msdyn_points":1200}`)},
		{name: "POST token for another widget", method: http.MethodPost, path: "/token?widget=support", context: widgets,
			contentType: "application/json", body: `{"context":{"msdyn_casenumber":"CAS-7"}}`,
			wantStatus: http.StatusOK,
			check:      openapiCheckToken(rsaSet, `{"msdyn_casenumber":"CAS-7","msdyn_isvip":{"value":"true","isDisplayable":true}}`)},
		{name: "GET token naming no widget is the default widget", method: http.MethodGet, path: "/token", context: widgets,
			wantStatus: http.StatusOK, check: openapiCheckToken(rsaSet, `{"msdyn_channel":"web"}`)},
		{name: "GET token with an empty widget is the default widget", method: http.MethodGet, path: "/token?widget=", context: widgets,
			wantStatus: http.StatusOK, check: openapiCheckToken(rsaSet, `{"msdyn_channel":"web"}`)},
		{name: "unknown widget, before the session is asked", method: http.MethodGet, path: "/token?widget=marketing",
			context: widgets, lookup: unauthenticated,
			wantStatus: http.StatusBadRequest, wantCode: CodeUnknownWidget,
			wantDetail: []string{"no widget has that name", "default, sales, support"}},
		{name: "POST to an unknown widget", method: http.MethodPost, path: "/token?widget=Sales",
			context: widgets, lookup: unauthenticated, contentType: "application/json", body: `{"context":{}}`,
			wantStatus: http.StatusBadRequest, wantCode: CodeUnknownWidget},
		{name: "no widget named and no default widget", method: http.MethodGet, path: "/token",
			context: widgetsNoDefault, lookup: unauthenticated,
			wantStatus: http.StatusBadRequest, wantCode: CodeUnknownWidget,
			wantDetail: []string{`none is called "default"`, "sales, support"}},
		{name: "a widget of a schema without widgets", method: http.MethodGet, path: "/token?widget=sales",
			context: ctxString, lookup: unauthenticated,
			wantStatus: http.StatusBadRequest, wantCode: CodeUnknownWidget, wantDetail: []string{"defines no widgets"}},
		{name: "a widget without any schema", method: http.MethodGet, path: "/token?widget=sales", lookup: unauthenticated,
			wantStatus: http.StatusBadRequest, wantCode: CodeUnknownWidget, wantDetail: []string{"defines no widgets"}},
		{name: "a widget name the document does not allow", method: http.MethodGet, path: "/token?widget=sales%20team",
			context: widgets, lookup: unauthenticated, specRejects: true,
			wantStatus: http.StatusBadRequest, wantCode: CodeUnknownWidget},
		{name: "the widget twice", method: http.MethodGet, path: "/token?widget=sales&widget=support",
			context: widgets, lookup: unauthenticated,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest, wantDetail: []string{"more than once"}},
		{name: "a badly escaped query", method: http.MethodGet, path: "/token?widget=sa%zzles",
			context: widgets, lookup: unauthenticated,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest, wantDetail: []string{"URL encoding"}},
		{name: "context of another widget", method: http.MethodPost, path: "/token?widget=sales", context: widgets,
			contentType: "application/json", body: `{"context":{"msdyn_casenumber":"CAS-7"}}`,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext, wantDetail: []string{`"msdyn_casenumber"`, "not in the context schema"}},

		// Display variables: {"value": <primitive>, "isDisplayable": true}.
		{name: "POST token with display variables", method: http.MethodPost, path: "/token", context: ctxDisplay(lwicontext.EncodingString),
			contentType: "application/json", body: `{"context":{"msdyn_pageurl_shown":"https://shop.example/"}}`,
			wantStatus: http.StatusOK,
			check: openapiCheckToken(rsaSet, `{"msdyn_channel":"web","msdyn_isvip":"true",`+
				`"msdyn_pageurl_shown":{"value":"https://shop.example/","isDisplayable":true},"msdyn_points":"1200",`+
				`"msdyn_points_shown":{"value":"1200","isDisplayable":true}}`)},
		{name: "POST token with display variables, typed encoding", method: http.MethodPost, path: "/token", context: ctxDisplay(lwicontext.EncodingTyped),
			contentType: "application/json", body: `{"context":{"msdyn_pageurl_shown":"https://shop.example/"}}`,
			wantStatus: http.StatusOK,
			check: openapiCheckToken(rsaSet, `{"msdyn_channel":"web","msdyn_isvip":true,`+
				`"msdyn_pageurl_shown":{"value":"https://shop.example/","isDisplayable":true},"msdyn_points":1200,`+
				`"msdyn_points_shown":{"value":1200,"isDisplayable":true}}`)},
		{name: "the displayable form sent by the page", method: http.MethodPost, path: "/token", context: ctxDisplay(lwicontext.EncodingString),
			contentType: "application/json", body: `{"context":{"msdyn_pageurl_shown":{"value":"https://shop.example/","isDisplayable":true}}}`,
			specRejects: true, wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext,
			wantDetail: []string{`"msdyn_pageurl_shown"`, `marks "display": true`}},

		// CORS: exact listed origins may read /token; nothing is refused
		// because of its Origin.
		{name: "GET token from a listed origin", method: http.MethodGet, path: "/token",
			corsOrigins: cors, header: fromAllowed,
			wantStatus: http.StatusOK, check: openapiAll(openapiCheckToken(rsaSet, ""), openapiCheckCORS(openapiAllowedOrigin))},
		{name: "POST token from an unlisted origin", method: http.MethodPost, path: "/token",
			corsOrigins: cors, header: fromOther, contentType: "application/json", body: `{}`,
			wantStatus: http.StatusOK, check: openapiAll(openapiCheckToken(rsaSet, ""), openapiCheckCORS(""))},
		{name: "GET token without an Origin", method: http.MethodGet, path: "/token", corsOrigins: cors,
			wantStatus: http.StatusOK, check: openapiCheckCORS("")},
		{name: "not signed in, from a listed origin", method: http.MethodGet, path: "/token",
			corsOrigins: cors, header: fromAllowed, lookup: unauthenticated,
			wantStatus: http.StatusUnauthorized, wantCode: CodeUnauthenticated, check: openapiCheckCORS(openapiAllowedOrigin)},
		{name: "invalid context, from a listed origin", method: http.MethodPost, path: "/token",
			corsOrigins: cors, header: fromAllowed, context: ctxString,
			contentType: "application/json", body: `{"context":{"msdyn_isvip":true}}`,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidContext, check: openapiCheckCORS(openapiAllowedOrigin)},
		{name: "preflight from a listed origin", method: http.MethodOptions, path: "/token",
			corsOrigins: cors, header: preflight(openapiAllowedOrigin, "POST", "content-type"), lookup: unavailable,
			wantStatus: http.StatusOK, check: openapiCheckPreflight(map[string]string{
				"Access-Control-Allow-Origin":      openapiAllowedOrigin,
				"Access-Control-Allow-Credentials": "true",
				"Access-Control-Allow-Methods":     "POST",
				"Access-Control-Allow-Headers":     "Content-Type",
				"Access-Control-Max-Age":           "600",
			})},
		{name: "preflight for GET with Authorization from a listed origin", method: http.MethodOptions, path: "/token",
			corsOrigins: cors, header: preflight(openapiAllowedOrigin, "GET", "authorization"),
			wantStatus: http.StatusOK, check: openapiCheckPreflight(map[string]string{
				"Access-Control-Allow-Origin":      openapiAllowedOrigin,
				"Access-Control-Allow-Credentials": "true",
				"Access-Control-Allow-Methods":     "GET",
				"Access-Control-Allow-Headers":     "Authorization",
				"Access-Control-Max-Age":           "600",
			})},
		{name: "preflight from an unlisted origin", method: http.MethodOptions, path: "/token",
			corsOrigins: cors, header: preflight(openapiOtherOrigin, "POST", "content-type"), lookup: unavailable,
			wantStatus: http.StatusOK, check: openapiCheckPreflight(nil)},
		{name: "preflight for a method /token does not take", method: http.MethodOptions, path: "/token",
			corsOrigins: cors, header: preflight(openapiAllowedOrigin, "DELETE", ""),
			wantStatus: http.StatusOK, check: openapiCheckPreflight(nil)},
		{name: "preflight for a header /token does not take", method: http.MethodOptions, path: "/token",
			corsOrigins: cors, header: preflight(openapiAllowedOrigin, "POST", "content-type, x-custom"),
			wantStatus: http.StatusOK, check: openapiCheckPreflight(nil)},
		{name: "OPTIONS token", method: http.MethodOptions, path: "/token", corsOrigins: cors, lookup: unavailable,
			wantStatus: http.StatusNoContent,
			check:      openapiAll(openapiCheckAllow("/token"), openapiCheckNoBody, openapiCheckCORS(""))},
		{name: "OPTIONS token from a listed origin", method: http.MethodOptions, path: "/token",
			corsOrigins: cors, header: fromAllowed,
			wantStatus: http.StatusNoContent,
			check:      openapiAll(openapiCheckAllow("/token"), openapiCheckNoBody, openapiCheckCORS(openapiAllowedOrigin))},
		{name: "DELETE token from a listed origin", method: http.MethodDelete, path: "/token",
			corsOrigins: cors, header: fromAllowed,
			routeErr: routers.ErrMethodNotAllowed, fallback: "MethodNotAllowed",
			wantStatus: http.StatusMethodNotAllowed, wantCode: CodeMethodNotAllowed,
			check: openapiAll(openapiCheckAllow("/token"), openapiCheckNoAccessControl)},
		{name: "preflight on publickey", method: http.MethodOptions, path: "/publickey",
			corsOrigins: cors, header: preflight(openapiAllowedOrigin, "GET", ""),
			routeErr: routers.ErrMethodNotAllowed, fallback: "MethodNotAllowed",
			wantStatus: http.StatusMethodNotAllowed, wantCode: CodeMethodNotAllowed,
			check: openapiAll(openapiCheckAllow("/publickey"), openapiCheckNoAccessControl)},
		{name: "body over 16 KiB", method: http.MethodPost, path: "/token",
			contentType: "application/json",
			body:        `{"context":{"msdyn_pageurl":"` + strings.Repeat("a", maxBodyBytes) + `"}}`,
			wantStatus:  http.StatusRequestEntityTooLarge, wantCode: CodePayloadTooLarge},
		{name: "body is not application/json", method: http.MethodPost, path: "/token",
			contentType: "text/plain", body: "hello", specRejects: true,
			wantStatus: http.StatusUnsupportedMediaType, wantCode: CodeUnsupportedMediaType},
		{name: "body without a Content-Type", method: http.MethodPost, path: "/token",
			body: `{"context":{}}`, specRejects: true,
			wantStatus: http.StatusUnsupportedMediaType, wantCode: CodeUnsupportedMediaType},
		{name: "DELETE token", method: http.MethodDelete, path: "/token",
			routeErr: routers.ErrMethodNotAllowed, fallback: "MethodNotAllowed",
			wantStatus: http.StatusMethodNotAllowed, wantCode: CodeMethodNotAllowed, check: openapiCheckAllow("/token")},
		{name: "POST publickey", method: http.MethodPost, path: "/publickey",
			routeErr: routers.ErrMethodNotAllowed, fallback: "MethodNotAllowed",
			wantStatus: http.StatusMethodNotAllowed, wantCode: CodeMethodNotAllowed, check: openapiCheckAllow("/publickey")},
		{name: "PUT readyz", method: http.MethodPut, path: "/readyz",
			routeErr: routers.ErrMethodNotAllowed, fallback: "MethodNotAllowed",
			wantStatus: http.StatusMethodNotAllowed, wantCode: CodeMethodNotAllowed, check: openapiCheckAllow("/readyz")},
		{name: "a made-up method on token", method: "BREW", path: "/token",
			routeErr: routers.ErrMethodNotAllowed, fallback: "MethodNotImplemented",
			wantStatus: http.StatusNotImplemented, wantCode: CodeMethodNotImplemented},
		{name: "a made-up method on an unknown path", method: "BREW", path: "/nope",
			routeErr: routers.ErrPathNotFound, fallback: "MethodNotImplemented",
			wantStatus: http.StatusNotImplemented, wantCode: CodeMethodNotImplemented},
		{name: "context member in another case", method: http.MethodPost, path: "/token",
			contentType: "application/json", body: `{"CONTEXT":{}}`, specRejects: true,
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},
		{name: "unknown path", method: http.MethodGet, path: "/nope",
			routeErr: routers.ErrPathNotFound, fallback: "NotFound",
			wantStatus: http.StatusNotFound, wantCode: CodeNotFound},
		{name: "token with a trailing slash", method: http.MethodGet, path: "/token/",
			routeErr: routers.ErrPathNotFound, fallback: "NotFound",
			wantStatus: http.StatusNotFound, wantCode: CodeNotFound},
		{name: "publickey", method: http.MethodGet, path: "/publickey",
			wantStatus: http.StatusOK, check: openapiCheckPEM(rsaSet, rsaSet.Signer.Public.(*rsa.PublicKey))},
		{name: "publickey not modified", method: http.MethodGet, path: "/publickey",
			header:     map[string]string{"If-None-Match": newTaggedBody(rsaSet.Published.PEM).etag},
			wantStatus: http.StatusNotModified, check: openapiCheckNotModified("/publickey", newTaggedBody(rsaSet.Published.PEM))},
		{name: "publickey with one key in a key directory", method: http.MethodGet, path: "/publickey", keys: oneKey,
			wantStatus: http.StatusOK, check: openapiCheckPEM(oneKey, signer)},
		{name: "publickey with two keys is the key array", method: http.MethodGet, path: "/publickey", keys: twoKeys,
			wantStatus: http.StatusOK, check: openapiCheckKeyArray(twoKeys, signer, next)},
		{name: "publickey with two keys and an empty format", method: http.MethodGet, path: "/publickey?format=", keys: twoKeys,
			wantStatus: http.StatusOK, check: openapiCheckKeyArray(twoKeys, signer, next)},
		{name: "publickey?format=pem with two keys", method: http.MethodGet, path: "/publickey?format=pem", keys: twoKeys,
			wantStatus: http.StatusOK, check: openapiCheckPEM(twoKeys, signer)},
		{name: "publickey?format=array with one key", method: http.MethodGet, path: "/publickey?format=array", keys: oneKey,
			wantStatus: http.StatusOK, check: openapiCheckKeyArray(oneKey, signer)},
		{name: "publickey?format=array with two keys", method: http.MethodGet, path: "/publickey?format=array", keys: twoKeys,
			wantStatus: http.StatusOK, check: openapiCheckKeyArray(twoKeys, signer, next)},
		{name: "publickey key array not modified", method: http.MethodGet, path: "/publickey", keys: twoKeys,
			header:     map[string]string{"If-None-Match": newTaggedBody(twoKeys.Published.Array).etag},
			wantStatus: http.StatusNotModified, check: openapiCheckNotModified("/publickey", newTaggedBody(twoKeys.Published.Array))},
		{name: "publickey PEM's ETag does not match the key array", method: http.MethodGet, path: "/publickey", keys: twoKeys,
			header:     map[string]string{"If-None-Match": newTaggedBody(twoKeys.Published.PEM).etag},
			wantStatus: http.StatusOK, check: openapiCheckKeyArray(twoKeys, signer, next)},
		{name: "publickey?format=bogus", method: http.MethodGet, path: "/publickey?format=bogus", keys: twoKeys,
			specRejects: true, wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest,
			wantDetail: []string{"pem or array"}},
		{name: "publickey under HS256", method: http.MethodGet, path: "/publickey", hmac: true,
			wantStatus: http.StatusNotFound, wantCode: CodeNotFound},
		{name: "publickey?format=array under HS256", method: http.MethodGet, path: "/publickey?format=array", hmac: true,
			wantStatus: http.StatusNotFound, wantCode: CodeNotFound},
		{name: "jwks", method: http.MethodGet, path: "/.well-known/jwks.json",
			wantStatus: http.StatusOK, check: openapiCheckJWKS(rsaSet, rsaSet.Signer.KID)},
		{name: "jwks with two keys", method: http.MethodGet, path: "/.well-known/jwks.json", keys: twoKeys,
			wantStatus: http.StatusOK, check: openapiCheckJWKS(twoKeys, keys.Thumbprint(signer), keys.Thumbprint(next))},
		{name: "jwks not modified", method: http.MethodGet, path: "/.well-known/jwks.json",
			header:     map[string]string{"If-None-Match": newTaggedBody(rsaSet.Published.JWKS).etag},
			wantStatus: http.StatusNotModified, check: openapiCheckNotModified("/.well-known/jwks.json", newTaggedBody(rsaSet.Published.JWKS))},
		{name: "jwks under HS256", method: http.MethodGet, path: "/.well-known/jwks.json", hmac: true,
			wantStatus: http.StatusNotFound, wantCode: CodeNotFound},
		{name: "client.js", method: http.MethodGet, path: "/client.js",
			wantStatus: http.StatusOK, check: openapiCheckPublished(clientJS)},
		{name: "client.js not modified", method: http.MethodGet, path: "/client.js",
			header:     map[string]string{"If-None-Match": clientJS.etag},
			wantStatus: http.StatusNotModified, check: openapiCheckNotModified("/client.js", clientJS)},
		{name: "healthz", method: http.MethodGet, path: "/healthz",
			wantStatus: http.StatusOK},
		{name: "healthz while shutting down", method: http.MethodGet, path: "/healthz", notReady: true,
			wantStatus: http.StatusOK},
		{name: "readyz ready", method: http.MethodGet, path: "/readyz",
			wantStatus: http.StatusOK},
		{name: "readyz shutting down", method: http.MethodGet, path: "/readyz", notReady: true,
			wantStatus: http.StatusServiceUnavailable, wantCode: CodeShuttingDown},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			openapiRun(t, doc, router, rsaSet, tc)
		})
	}
}

func openapiRun(t *testing.T, doc *openapi3.T, router routers.Router, rsaSet *keys.Set, tc openapiCase) {
	set := rsaSet
	switch {
	case tc.hmac:
		set = openapiHMACSet(t)
	case tc.keys != nil:
		set = tc.keys
	}
	deps := openapiDeps(t, set, tc.lookup, !tc.notReady)
	deps.Claims.Context = tc.context
	deps.CORSOrigins = tc.corsOrigins
	if tc.brokenSigner {
		// A key set whose private key is of the wrong type: signing fails.
		broken := &keys.Set{Signer: keys.SigningKey{Method: jwt.SigningMethodRS256, Private: []byte("not an RSA key")}}
		deps.Minter.Keys = func() *keys.Set { return broken }
	}
	srv := httptest.NewServer(NewServer(deps))
	defer srv.Close()

	newRequest := func() *http.Request {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		req, err := http.NewRequest(tc.method, srv.URL+tc.path, body)
		if err != nil {
			t.Fatalf("building the request: %v", err)
		}
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		return req
	}

	// The request, against the document.
	ctx := context.Background()
	checkReq := newRequest()
	route, pathParams, err := router.FindRoute(checkReq)
	if tc.routeErr != nil {
		if !errors.Is(err, tc.routeErr) {
			t.Fatalf("FindRoute(%s %s) = %v, want %v", tc.method, tc.path, err, tc.routeErr)
		}
		resp := doc.Components.Responses[tc.fallback]
		if resp == nil {
			t.Fatalf("components.responses.%s is missing", tc.fallback)
		}
		// Validate the answer as the answer of an operation whose only
		// response is the component the document names for this case.
		route = &routers.Route{
			Spec:   doc,
			Path:   tc.path,
			Method: tc.method,
			Operation: &openapi3.Operation{
				Responses: openapi3.NewResponses(openapi3.WithStatus(tc.wantStatus, resp)),
			},
		}
	} else if err != nil {
		t.Fatalf("FindRoute(%s %s): %v", tc.method, tc.path, err)
	}
	reqInput := &openapi3filter.RequestValidationInput{
		Request:    checkReq,
		PathParams: pathParams,
		Route:      route,
		Options:    &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if tc.routeErr == nil {
		err := openapi3filter.ValidateRequest(ctx, reqInput)
		switch {
		case tc.specRejects && err == nil:
			t.Errorf("the document accepts this request, but the server refuses it with %d", tc.wantStatus)
		case !tc.specRejects && err != nil:
			t.Errorf("the document refuses this request: %v", err)
		}
	}

	// The answer, from the real server.
	res, err := srv.Client().Do(newRequest())
	if err != nil {
		t.Fatalf("%s %s: %v", tc.method, tc.path, err)
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	if res.StatusCode != tc.wantStatus {
		t.Fatalf("status = %d, want %d; body: %s", res.StatusCode, tc.wantStatus, body)
	}

	// The answer, against the document.
	resInput := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqInput,
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	resInput.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, resInput); err != nil {
		t.Errorf("the answer does not match the document: %v\nheaders: %v\nbody: %s", err, res.Header, body)
	}

	if res.Header.Get("X-Request-Id") == "" {
		t.Error("X-Request-Id is missing")
	}
	if tc.wantCode != "" {
		var p problem
		if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("Content-Type = %q, want application/problem+json", ct)
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("the problem body does not decode: %v; body: %s", err, body)
		}
		if p.Code != tc.wantCode || p.Status != tc.wantStatus {
			t.Errorf("problem code %q status %d, want %q %d", p.Code, p.Status, tc.wantCode, tc.wantStatus)
		}
		if p.RequestID != res.Header.Get("X-Request-Id") {
			t.Errorf("request_id %q differs from X-Request-Id %q", p.RequestID, res.Header.Get("X-Request-Id"))
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("a problem's Cache-Control = %q, want no-store", cc)
		}
		for _, want := range tc.wantDetail {
			if !strings.Contains(p.Detail, want) {
				t.Errorf("detail %q does not contain %q", p.Detail, want)
			}
		}
	}
	if tc.check != nil {
		tc.check(t, doc, res, body)
	}
}

// openapiCheckToken decodes the minted token and checks its header and
// claims against the TokenHeader and TokenClaims schemas, its signature
// against set, the claims of openapiSignedIn, and that lwicontexts is
// exactly wantContext (absent when empty).
func openapiCheckToken(set *keys.Set, wantContext string) func(*testing.T, *openapi3.T, *http.Response, []byte) {
	return func(t *testing.T, doc *openapi3.T, res *http.Response, body []byte) {
		t.Helper()
		got := openapiDecodeToken(t, doc, body, wantContext)

		claims := jwt.MapClaims{}
		parsed, err := jwt.ParseWithClaims(got.Token, claims,
			func(*jwt.Token) (any, error) { return set.Signer.Public, nil },
			jwt.WithValidMethods([]string{set.Signer.Method.Alg()}),
			jwt.WithIssuer(openapiIssuer), jwt.WithSubject("contact-1"))
		if err != nil {
			t.Fatalf("the token does not verify: %v", err)
		}
		if kid, _ := parsed.Header["kid"].(string); kid != set.Signer.KID {
			t.Errorf("kid = %q, want %q", kid, set.Signer.KID)
		}
		iat, _ := claims["iat"].(float64)
		nbf, _ := claims["nbf"].(float64)
		exp, _ := claims["exp"].(float64)
		if exp-iat != openapiTTL.Seconds() || iat-nbf != openapiClockSkew.Seconds() {
			t.Errorf("iat %v nbf %v exp %v: want exp = iat + %s and nbf = iat - %s", iat, nbf, exp, openapiTTL, openapiClockSkew)
		}
		if claims["email"] != "ada@shop.example" || claims["loyalty_points"] != 1200.0 || claims["vip"] != true {
			t.Errorf("identity claims email %v loyalty_points %v vip %v", claims["email"], claims["loyalty_points"], claims["vip"])
		}
		if got.ExpiresIn < int64(openapiTTL.Seconds())-2 || got.ExpiresIn > int64(openapiTTL.Seconds()) {
			t.Errorf("expires_in = %d, want about %d", got.ExpiresIn, int64(openapiTTL.Seconds()))
		}
	}
}

// openapiCheckTokenContext checks a token answer as openapiDecodeToken
// does, for a session document other than openapiSignedIn's.
func openapiCheckTokenContext(wantContext string) func(*testing.T, *openapi3.T, *http.Response, []byte) {
	return func(t *testing.T, doc *openapi3.T, _ *http.Response, body []byte) {
		t.Helper()
		openapiDecodeToken(t, doc, body, wantContext)
	}
}

// openapiDecodeToken checks a token answer against the TokenHeader and
// TokenClaims schemas (without verifying its signature), and that its
// lwicontexts claim is exactly wantContext (absent when empty) and a flat
// JSON object of primitives and displayable objects. It returns the decoded
// answer.
func openapiDecodeToken(t *testing.T, doc *openapi3.T, body []byte, wantContext string) tokenResponse {
	t.Helper()
	var got tokenResponse
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("the token answer does not decode: %v", err)
	}
	parts := strings.Split(got.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("the token has %d segments, want 3", len(parts))
	}
	var claims map[string]any
	for i, schema := range []string{"TokenHeader", "TokenClaims"} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("%s segment is not base64url: %v", schema, err)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s segment is not JSON: %v", schema, err)
		}
		if err := doc.Components.Schemas[schema].Value.VisitJSON(v); err != nil {
			t.Errorf("%s %s does not match the document: %v", schema, raw, err)
		}
		claims, _ = v.(map[string]any)
	}

	lwi, present := claims["lwicontexts"]
	switch {
	case wantContext == "" && present:
		t.Errorf("lwicontexts = %v, want no such claim", lwi)
	case wantContext != "" && lwi != wantContext:
		t.Errorf("lwicontexts = %#v, want %#v", lwi, wantContext)
	}
	if s, ok := lwi.(string); ok {
		var flat map[string]any
		if err := json.Unmarshal([]byte(s), &flat); err != nil {
			t.Errorf("lwicontexts %q is not a JSON object: %v", s, err)
		}
		for k, v := range flat {
			// A display variable is the one object allowed, and only as
			// the chat SDK's displayable form.
			if d, ok := v.(map[string]any); ok && len(d) == 2 && d["isDisplayable"] == true {
				v = d["value"]
			}
			switch v.(type) {
			case string, float64, bool:
			default:
				t.Errorf("lwicontexts[%q] = %#v, want a string, number or boolean, or {\"value\": one of them, \"isDisplayable\": true}", k, v)
			}
		}
	}
	return got
}

// openapiAll runs several checks on one answer.
func openapiAll(checks ...func(*testing.T, *openapi3.T, *http.Response, []byte)) func(*testing.T, *openapi3.T, *http.Response, []byte) {
	return func(t *testing.T, doc *openapi3.T, res *http.Response, body []byte) {
		t.Helper()
		for _, check := range checks {
			check(t, doc, res, body)
		}
	}
}

func openapiCheckNoBody(t *testing.T, _ *openapi3.T, _ *http.Response, body []byte) {
	t.Helper()
	if len(body) != 0 {
		t.Errorf("the answer has a body: %q", body)
	}
}

// openapiAccessControl returns the answer's Access-Control-* headers.
func openapiAccessControl(res *http.Response) map[string]string {
	got := map[string]string{}
	for name, values := range res.Header {
		if strings.HasPrefix(name, "Access-Control-") {
			got[name] = strings.Join(values, ", ")
		}
	}
	return got
}

func openapiCheckNoAccessControl(t *testing.T, _ *openapi3.T, res *http.Response, _ []byte) {
	t.Helper()
	if got := openapiAccessControl(res); len(got) != 0 {
		t.Errorf("Access-Control-* headers %v, want none", got)
	}
}

// openapiCheckCORS checks the CORS headers of an answer that is not a
// preflight: for origin, exactly the headers that let it read the answer
// with credentials; for "" (an unlisted origin, or none), none at all.
// Vary: Origin is there either way.
func openapiCheckCORS(origin string) func(*testing.T, *openapi3.T, *http.Response, []byte) {
	return func(t *testing.T, _ *openapi3.T, res *http.Response, _ []byte) {
		t.Helper()
		want := map[string]string{}
		if origin != "" {
			want = map[string]string{
				"Access-Control-Allow-Origin":      origin,
				"Access-Control-Allow-Credentials": "true",
				"Access-Control-Expose-Headers":    "X-Request-Id",
			}
		}
		if got := openapiAccessControl(res); !maps.Equal(got, want) {
			t.Errorf("Access-Control-* headers %v, want %v", got, want)
		}
		if vary := res.Header.Values("Vary"); !slices.Equal(vary, []string{"Origin"}) {
			t.Errorf("Vary = %q, want [Origin]", vary)
		}
	}
}

// openapiCheckPreflight checks a preflight's answer: exactly the
// Access-Control-* headers in want (none when want is nil), Vary on the
// three request headers, no Allow and no body.
func openapiCheckPreflight(want map[string]string) func(*testing.T, *openapi3.T, *http.Response, []byte) {
	return func(t *testing.T, doc *openapi3.T, res *http.Response, body []byte) {
		t.Helper()
		if want == nil {
			want = map[string]string{}
		}
		if got := openapiAccessControl(res); !maps.Equal(got, want) {
			t.Errorf("Access-Control-* headers %v, want %v", got, want)
		}
		wantVary := []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}
		if vary := res.Header.Values("Vary"); !slices.Equal(vary, wantVary) {
			t.Errorf("Vary = %q, want %q", vary, wantVary)
		}
		if allow := res.Header.Get("Allow"); allow != "" {
			t.Errorf("a preflight answer has Allow: %q", allow)
		}
		openapiCheckNoBody(t, doc, res, body)
	}
}

// openapiCheckAllow checks that a 405's Allow header names exactly the
// methods the document lists for path, and HEAD wherever GET is.
func openapiCheckAllow(path string) func(*testing.T, *openapi3.T, *http.Response, []byte) {
	return func(t *testing.T, doc *openapi3.T, res *http.Response, _ []byte) {
		t.Helper()
		item := doc.Paths.Value(path)
		if item == nil {
			t.Fatalf("%s is not in the document", path)
		}
		var want []string
		for m := range item.Operations() {
			m = strings.ToUpper(m)
			want = append(want, m)
			if m == http.MethodGet && item.Head == nil {
				want = append(want, http.MethodHead)
			}
		}
		var got []string
		for m := range strings.SplitSeq(res.Header.Get("Allow"), ",") {
			got = append(got, strings.TrimSpace(m))
		}
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("Allow = %v, want the document's methods %v", got, want)
		}
	}
}

func openapiCheckPublished(b taggedBody) func(*testing.T, *openapi3.T, *http.Response, []byte) {
	return func(t *testing.T, _ *openapi3.T, res *http.Response, body []byte) {
		t.Helper()
		if string(body) != string(b.data) {
			t.Errorf("body differs from the published body")
		}
		if res.Header.Get("ETag") != b.etag {
			t.Errorf("ETag = %q, want %q", res.Header.Get("ETag"), b.etag)
		}
	}
}

// openapiCheckJWKS checks a JWKS answer: set's JWKS body, holding exactly
// the keys wantKIDs, in that order.
func openapiCheckJWKS(set *keys.Set, wantKIDs ...string) func(*testing.T, *openapi3.T, *http.Response, []byte) {
	return func(t *testing.T, doc *openapi3.T, res *http.Response, body []byte) {
		t.Helper()
		openapiCheckPublished(newTaggedBody(set.Published.JWKS))(t, doc, res, body)
		var jwks struct {
			Keys []struct {
				Kid string `json:"kid"`
			} `json:"keys"`
		}
		if err := json.Unmarshal(body, &jwks); err != nil {
			t.Fatalf("the JWKS does not decode: %v", err)
		}
		var got []string
		for _, k := range jwks.Keys {
			got = append(got, k.Kid)
		}
		if !slices.Equal(got, wantKIDs) {
			t.Errorf("JWKS kids %q, want %q", got, wantKIDs)
		}
		if !slices.Contains(got, set.Signer.KID) {
			t.Errorf("JWKS kids %q lack the signing key's %q", got, set.Signer.KID)
		}
	}
}

// openapiCheckNotModified checks a 304, which openapi3filter does not
// validate: the headers the document lists for the 304 of GET path, and no
// body.
func openapiCheckNotModified(path string, b taggedBody) func(*testing.T, *openapi3.T, *http.Response, []byte) {
	return func(t *testing.T, doc *openapi3.T, res *http.Response, body []byte) {
		t.Helper()
		if len(body) != 0 {
			t.Errorf("a 304 has a body: %q", body)
		}
		if res.Header.Get("ETag") != b.etag {
			t.Errorf("ETag = %q, want %q", res.Header.Get("ETag"), b.etag)
		}
		item := doc.Paths.Value(path)
		if item == nil || item.Get == nil || item.Get.Responses.Status(http.StatusNotModified) == nil {
			t.Fatalf("the document has no 304 for GET %s", path)
		}
		for name, h := range item.Get.Responses.Status(http.StatusNotModified).Value.Headers {
			got := res.Header.Get(name)
			if got == "" {
				if h.Value.Required {
					t.Errorf("304 lacks header %s", name)
				}
				continue
			}
			if err := h.Value.Schema.Value.VisitJSON(got); err != nil {
				t.Errorf("304 header %s: %v", name, err)
			}
		}
	}
}

// openapiCheckPEM checks a PEM answer of /publickey: set's PEM body with
// its ETag, as text/plain, one PUBLIC KEY block holding exactly want.
func openapiCheckPEM(set *keys.Set, want *rsa.PublicKey) func(*testing.T, *openapi3.T, *http.Response, []byte) {
	return func(t *testing.T, doc *openapi3.T, res *http.Response, body []byte) {
		t.Helper()
		openapiCheckPublished(newTaggedBody(set.Published.PEM))(t, doc, res, body)
		if ct := res.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("Content-Type = %q, want text/plain; charset=utf-8", ct)
		}
		if got := openapiParsePEM(t, body); !got.Equal(want) {
			t.Errorf("the PEM holds the key with kid %q, want %q", keys.Thumbprint(got), keys.Thumbprint(want))
		}
	}
}

// openapiCheckKeyArray checks Omnichannel's key array: set's array body
// with its ETag, as application/json, one entry per key of want (in that
// order), each with the key's kid, its whole PEM in standard base64, and an
// expiry at least a day ahead.
func openapiCheckKeyArray(set *keys.Set, want ...*rsa.PublicKey) func(*testing.T, *openapi3.T, *http.Response, []byte) {
	return func(t *testing.T, doc *openapi3.T, res *http.Response, body []byte) {
		t.Helper()
		openapiCheckPublished(newTaggedBody(set.Published.Array))(t, doc, res, body)
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
		var entries []struct {
			KID       string `json:"kid"`
			PublicKey string `json:"publicKey"`
			Expiry    int64  `json:"expiry"`
		}
		if err := json.Unmarshal(body, &entries); err != nil {
			t.Fatalf("the key array does not decode: %v; body: %s", err, body)
		}
		if len(entries) != len(want) {
			t.Fatalf("the key array has %d entries, want %d: %s", len(entries), len(want), body)
		}
		now := time.Now()
		var kids []string
		for i, e := range entries {
			kids = append(kids, e.KID)
			pemData, err := base64.StdEncoding.DecodeString(e.PublicKey)
			if err != nil {
				t.Errorf("entry %d: publicKey is not standard base64: %v", i, err)
				continue
			}
			if got := openapiParsePEM(t, pemData); !got.Equal(want[i]) {
				t.Errorf("entry %d holds the key with kid %q, want %q", i, keys.Thumbprint(got), keys.Thumbprint(want[i]))
			}
			if e.KID != keys.Thumbprint(want[i]) {
				t.Errorf("entry %d: kid = %q, want %q", i, e.KID, keys.Thumbprint(want[i]))
			}
			if exp := time.Unix(e.Expiry, 0); exp.Before(now.Add(24*time.Hour)) || exp.After(now.Add(keys.ArrayExpiry+time.Minute)) {
				t.Errorf("entry %d: expiry %s, want between a day and %s from now (%s)", i, exp, keys.ArrayExpiry, now)
			}
		}
		if !slices.Contains(kids, set.Signer.KID) {
			t.Errorf("the key array's kids %q lack the signing key's %q", kids, set.Signer.KID)
		}
	}
}

// openapiParsePEM parses data as exactly one PUBLIC KEY block holding an RSA
// key, ending with a newline.
func openapiParsePEM(t *testing.T, data []byte) *rsa.PublicKey {
	t.Helper()
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" || len(rest) != 0 {
		t.Fatalf("not exactly one PUBLIC KEY block: %q", data)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("the PEM block does not parse: %v", err)
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("the PEM holds a %T, want an RSA key", pub)
	}
	return rsaPub
}

// openapiCheckKIDInArray checks that a minted token's kid names an entry of
// set's key array, as Omnichannel requires while several keys are
// published.
func openapiCheckKIDInArray(set *keys.Set) func(*testing.T, *openapi3.T, *http.Response, []byte) {
	return func(t *testing.T, _ *openapi3.T, _ *http.Response, body []byte) {
		t.Helper()
		var got tokenResponse
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("the token answer does not decode: %v", err)
		}
		header, _, _ := strings.Cut(got.Token, ".")
		raw, err := base64.RawURLEncoding.DecodeString(header)
		if err != nil {
			t.Fatalf("the token header is not base64url: %v", err)
		}
		var h struct {
			KID string `json:"kid"`
		}
		if err := json.Unmarshal(raw, &h); err != nil {
			t.Fatalf("the token header is not JSON: %v", err)
		}
		var entries []struct {
			KID string `json:"kid"`
		}
		if err := json.Unmarshal(set.Published.Array, &entries); err != nil {
			t.Fatalf("the key array does not decode: %v", err)
		}
		for _, e := range entries {
			if e.KID == h.KID {
				return
			}
		}
		t.Errorf("the token's kid %q is not in the key array %s", h.KID, set.Published.Array)
	}
}
