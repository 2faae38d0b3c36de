package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/internal/inspect"
)

// checkKeyURL judges the public key URL as Omnichannel's admin form and
// Microsoft's servers will.
func (d *doctor) checkKeyURL() {
	u := d.report.Settings.PublicKeyURL
	fail := func(detail, fix string) {
		d.add(Check{Name: "public key URL", Status: Fail, Detail: detail, Fix: fix, Widget: inspect.InvalidToken})
	}
	switch scheme := "HTTPS"; {
	case d.base.Scheme == "http" && !isLoopback(d.base.Hostname()):
		fail(u+" is plain http: Microsoft's servers fetch the key over HTTPS only", "serve chattoken behind TLS and give the https URL")
	case len(u) > maxKeyURLLength:
		fail(fmt.Sprintf("%s is %d characters; Omnichannel accepts at most %d", u, len(u), maxKeyURLLength), "serve chattoken under a shorter path")
	default:
		if d.base.Scheme == "http" {
			scheme = "plain http, accepted on loopback only"
		}
		d.add(Check{Name: "public key URL", Status: Pass, Detail: fmt.Sprintf("%s: %s, %d characters", u, scheme, len(u))})
	}
}

// checkKey fetches the public key as Microsoft's servers do (no cookies, no
// redirects) and judges what it serves. It returns the keys for the token's
// signature, or nil when there are none.
func (d *doctor) checkKey(ctx context.Context) *inspect.KeySource {
	fail := func(detail, fix string) *inspect.KeySource {
		d.add(Check{Name: "public key", Status: Fail, Detail: detail, Fix: fix, Widget: inspect.InvalidToken})
		return nil
	}
	a, err := d.do(ctx, http.MethodGet, "/publickey", nil)
	switch {
	case err != nil:
		return fail(err.Error(), "")
	case a.status >= 300 && a.status < 400:
		return fail("answers "+a.describe()+" without cookies: Microsoft's servers do not follow redirects",
			"serve /publickey itself, with no sign-in or redirect in front of it (enter the URL the redirect ends at)")
	case a.status != http.StatusOK:
		return fail("answers "+a.describe()+" without cookies",
			"make /publickey public: Microsoft's servers fetch it without signing in")
	}
	src, err := inspect.ParsePublicKeyURLBody("publickey", a.body)
	if err != nil {
		return fail(err.Error(), "let /publickey answer what chattoken serves there, with nothing in between rewriting it")
	}

	kids := make([]string, 0, len(src.Keys))
	for kid := range src.Keys {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	var failures, warnings []string
	weak, stale := false, false
	var nearest time.Duration
	for _, kid := range kids {
		name := "the key"
		if src.Expiry != nil {
			name = fmt.Sprintf("key %q", kid)
		}
		if bits := src.Keys[kid].N.BitLen(); bits < minRSABits {
			failures = append(failures, fmt.Sprintf("%s is RSA of %d bits; at least %d", name, bits, minRSABits))
			weak = true
		}
		if src.Expiry == nil {
			continue
		}
		expiry, ok := src.Expiry[kid]
		left := time.Until(expiry)
		switch {
		case !ok:
			failures = append(failures, name+" has no expiry")
			stale = true
		case left <= 0:
			failures = append(failures, fmt.Sprintf("%s expired at %s", name, expiry.UTC().Format(time.RFC3339)))
			stale = true
		case left < expiryWarning:
			warnings = append(warnings, fmt.Sprintf("%s expires in %s", name, left.Round(time.Minute)))
		}
		if ok && (nearest == 0 || left < nearest) {
			nearest = left
		}
	}
	var fixes []string
	if weak {
		fixes = append(fixes, "publish RSA keys of at least 2048 bits (chattoken keygen writes them)")
	}
	if stale {
		fixes = append(fixes, "publish expiries in the future (chattoken's own array is always a day ahead: is a cache in front of /publickey serving an old body?)")
	}
	switch {
	case len(failures) > 0:
		d.add(Check{Name: "public key", Status: Fail, Detail: strings.Join(append(failures, warnings...), "; "),
			Fix: strings.Join(fixes, "; "), Widget: inspect.InvalidToken})
	case len(warnings) > 0:
		d.add(Check{Name: "public key", Status: Warn, Detail: strings.Join(warnings, "; "),
			Fix: "publish a key array with later expiries before then"})
	case src.Expiry == nil:
		d.add(Check{Name: "public key", Status: Pass, Detail: fmt.Sprintf("200 without cookies: one PEM, RSA %d bits", src.Keys[""].N.BitLen())})
	default:
		d.add(Check{Name: "public key", Status: Pass, Detail: fmt.Sprintf("200 without cookies: a key array of %d (%s), the nearest expiry in %s",
			len(kids), strings.Join(kids, ", "), nearest.Round(time.Minute))})
	}
	return &src
}

// checkClientJS: the page loads client.js from beside the key, and a
// browser runs it only when it is served as JavaScript (chattoken says
// nosniff).
func (d *doctor) checkClientJS(ctx context.Context) {
	c := Check{Name: "client.js", Status: Fail, Widget: inspect.ProviderFailed,
		Fix: "serve chattoken's /client.js at the same path prefix; without it " + ClientFunction + " does not exist on the page"}
	a, err := d.do(ctx, http.MethodGet, "/client.js", nil)
	if err != nil {
		c.Detail = err.Error()
		d.add(c)
		return
	}
	mediaType, _, _ := mime.ParseMediaType(a.header.Get("Content-Type"))
	switch {
	case a.status != http.StatusOK:
		c.Detail = "answers " + a.describe()
	case mediaType != "text/javascript" && mediaType != "application/javascript":
		c.Detail = fmt.Sprintf("served as %q: browsers refuse to run a script that is not JavaScript", a.header.Get("Content-Type"))
	default:
		c = Check{Name: "client.js", Status: Pass, Detail: fmt.Sprintf("200 %s, %d bytes", mediaType, len(a.body))}
	}
	d.add(c)
}

// checkTokenEndpoint asks /token as the widget's page does: without
// credentials, from the page's origin and from another one, and with the
// visitor's credentials when given. The answers are judged after.
func (d *doctor) checkTokenEndpoint(ctx context.Context, src *inspect.KeySource) {
	fromPage := http.Header{}
	if d.origin != "" {
		fromPage.Set("Origin", d.origin)
	}
	anonymous, anonErr := d.do(ctx, http.MethodGet, "/token", fromPage)

	signedIn := len(d.credentials) > 0
	var withCreds *answer
	var credsErr error
	if signedIn {
		withCreds, credsErr = d.do(ctx, http.MethodGet, "/token", merge(d.credentials, fromPage))
	}
	// A proxy may add CORS headers to successful answers only, so another
	// origin asks with the credentials when there are some.
	fromOther := merge(d.credentials, http.Header{"Origin": {otherOrigin}})
	other, otherErr := d.do(ctx, http.MethodGet, "/token", fromOther)

	if d.origin != "" {
		d.checkCORS(ctx, anonymous, withCreds)
	}
	d.checkOtherOrigin(other, otherErr)
	d.checkAnonymous(anonymous, anonErr)
	clock := anonymous
	if signedIn {
		d.checkToken(withCreds, credsErr, src)
		clock = withCreds
	} else {
		d.add(Check{Name: "token", Status: Warn, Detail: "not checked: give --cookie (or --bearer) of a signed-in visitor to check the token itself"})
	}
	d.checkClock(clock)
}

func merge(headers ...http.Header) http.Header {
	out := http.Header{}
	for _, h := range headers {
		for k, v := range h {
			out[k] = v
		}
	}
	return out
}

// checkCORS: a page on another origin reads /token only when the preflight
// and every answer name its origin and allow credentials.
func (d *doctor) checkCORS(ctx context.Context, answers ...*answer) {
	if strings.EqualFold(d.origin, d.base.Scheme+"://"+d.base.Host) {
		d.add(Check{Name: "CORS", Status: Pass, Detail: d.origin + " is the service's own origin: no CORS needed"})
		return
	}
	preflight, err := d.do(ctx, http.MethodOptions, "/token", http.Header{
		"Origin":                         {d.origin},
		"Access-Control-Request-Method":  {http.MethodPost},
		"Access-Control-Request-Headers": {"content-type"},
	})
	// Each problem once, with where it was seen.
	var problems []string
	where := map[string][]string{}
	note := func(problem, what string) {
		if where[problem] == nil {
			problems = append(problems, problem)
		}
		where[problem] = append(where[problem], what)
	}
	if err != nil {
		note(err.Error(), "the preflight")
	} else {
		corsProblems("the preflight", preflight, d.origin, note)
		if !strings.Contains(strings.ToUpper(preflight.header.Get("Access-Control-Allow-Methods")), http.MethodPost) ||
			!strings.Contains(strings.ToLower(preflight.header.Get("Access-Control-Allow-Headers")), "content-type") {
			note("POST with Content-Type is not allowed", "the preflight")
		}
	}
	for _, a := range answers {
		if a != nil {
			corsProblems(fmt.Sprintf("the %d answer", a.status), a, d.origin, note)
		}
	}
	if len(problems) > 0 {
		for i, p := range problems {
			problems[i] = p + " (" + strings.Join(where[p], ", ") + ")"
		}
		d.add(Check{Name: "CORS", Status: Fail, Detail: d.origin + " cannot read /token: " + strings.Join(problems, "; "),
			Fix: "list " + d.origin + " in CHATTOKEN_CORS_ORIGINS, exactly as the page's origin, and let no proxy add CORS headers of its own", Widget: inspect.NoToken})
		return
	}
	d.add(Check{Name: "CORS", Status: Pass, Detail: d.origin + " may read /token with credentials (preflight and answers)"})
}

func corsProblems(what string, a *answer, origin string, note func(problem, what string)) {
	switch allowed := a.header.Get("Access-Control-Allow-Origin"); {
	case allowed == "*":
		note("Access-Control-Allow-Origin is *, which browsers refuse on a request with credentials", what)
	case !strings.EqualFold(allowed, origin):
		note("Access-Control-Allow-Origin does not name the origin", what)
	}
	if a.header.Get("Access-Control-Allow-Credentials") != "true" {
		note("Access-Control-Allow-Credentials: true is missing", what)
	}
}

// checkOtherOrigin: a site that is not the shop's must not read /token, or
// it reads the tokens of every visitor it lures.
func (d *doctor) checkOtherOrigin(a *answer, err error) {
	fail := func(detail string) {
		d.add(Check{Name: "other origins", Status: Fail, Detail: detail,
			Fix: "list only your pages' origins in CHATTOKEN_CORS_ORIGINS, and let no proxy in front of chattoken add a wildcard"})
	}
	if err != nil {
		d.add(Check{Name: "other origins", Status: Fail, Detail: "/token " + err.Error()})
		return
	}
	switch allowed := a.header.Get("Access-Control-Allow-Origin"); {
	case allowed == "*":
		fail("/token answers Access-Control-Allow-Origin: * to any origin: every site may read what it answers")
	case strings.EqualFold(allowed, otherOrigin):
		fail("/token echoes any origin in Access-Control-Allow-Origin: every site may read your visitors' tokens")
	default:
		d.add(Check{Name: "other origins", Status: Pass, Detail: otherOrigin + " gets no CORS permission"})
	}
}

// checkAnonymous: a visitor without credentials gets 401 problem+json,
// which client.js turns into "not signed in" (or null, with optional
// sign-in). A token is the worst the doctor can find.
func (d *doctor) checkAnonymous(a *answer, err error) {
	// Every failure but a minted token leaves the widget without one.
	c := Check{Name: "anonymous", Status: Fail, Widget: inspect.NoToken}
	mediaType := ""
	if a != nil {
		mediaType, _, _ = mime.ParseMediaType(a.header.Get("Content-Type"))
	}
	switch {
	case err != nil:
		c.Detail = "/token " + err.Error()
	case a.status == http.StatusOK:
		sub := ""
		if tok, ok := tokenOf(a); ok {
			if s, err := tok.Claims.GetSubject(); err == nil && s != "" {
				sub = fmt.Sprintf(" (sub %q)", s)
			}
		}
		c.Widget = 0 // the widget is content: the harm is who gets the token
		c.Detail = "/token minted a token for a visitor without credentials" + sub +
			": anyone may chat as someone else. This is the worst failure the doctor can find"
		c.Fix = "at once, in the session mode: introspect's URL must not answer 200 for a visitor without a session, header mode needs a proxy that sets the identity headers itself (docs/session-modes.md)"
	case a.status >= 300 && a.status < 400:
		c.Detail = "/token answers " + a.describe() + " without credentials"
		c.Fix = "keep sign-in redirects away from chattoken's path: /token must answer 401 itself"
	case a.status != http.StatusUnauthorized || mediaType != "application/problem+json":
		c.Detail = fmt.Sprintf("/token answers %s (%s) without credentials; want 401 application/problem+json", a.describe(), a.header.Get("Content-Type"))
		c.Fix = "let chattoken's own answer through the proxy (no error pages of its own for /token)"
	default:
		c = Check{Name: "anonymous", Status: Pass, Detail: "/token answers " + a.describe() + " problem+json without credentials"}
	}
	d.add(c)
}

// tokenOf reads the token of a /token answer without verifying it.
func tokenOf(a *answer) (*jwt.Token, bool) {
	var body struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(a.body, &body) != nil || body.Token == "" {
		return nil, false
	}
	tok, _, err := jwt.NewParser().ParseUnverified(body.Token, jwt.MapClaims{})
	return tok, err == nil
}

// checkToken judges a signed-in visitor's token: every inspect check with
// the published keys, and expires_in against exp.
func (d *doctor) checkToken(a *answer, err error, src *inspect.KeySource) {
	fail := func(detail, fix string) {
		d.add(Check{Name: "token", Status: Fail, Detail: detail, Fix: fix, Widget: inspect.NoToken})
	}
	var body struct {
		Token     string `json:"token"`
		ExpiresIn any    `json:"expires_in"`
	}
	switch {
	case err != nil:
		fail("/token "+err.Error(), "")
		return
	case a.status == http.StatusUnauthorized:
		fail("/token answers "+a.describe()+" with the credentials given",
			"give the Cookie header of a signed-in browser (--cookie 'name=value') or a current access token (--bearer)")
		return
	case a.status != http.StatusOK:
		fix := ""
		if p := a.problem(); p.RequestID != "" {
			fix = "chattoken's log line with request_id " + p.RequestID + " says why"
		}
		fail("/token answers "+a.describe()+" with the credentials given", fix)
		return
	case decodeNumbers(a.body, &body) != nil || body.Token == "":
		fail("/token answers 200 without a token in it", "")
		return
	}

	var sources []inspect.KeySource
	if src != nil {
		sources = append(sources, *src)
	}
	findings := inspect.Check(body.Token, sources, a.at)
	if allPass(findings) {
		d.add(Check{Name: "token", Status: Pass, Detail: fmt.Sprintf("passes every inspect check (%s)", summary(findings))})
	}
	for _, f := range findings {
		switch f.Status {
		case inspect.Warn:
			d.add(Check{Name: "token " + f.Check, Status: Warn, Detail: f.Detail})
		case inspect.Skip:
			// Only the signature is ever skipped: for want of a key.
			d.add(Check{Name: "token " + f.Check, Status: Fail, Detail: "not checked: the public key URL gave no key", Widget: inspect.InvalidToken})
		case inspect.Fail:
			d.add(Check{Name: "token " + f.Check, Status: Fail, Detail: f.Detail, Widget: f.Widget})
		}
	}
	d.checkExpiresIn(a, body.Token, body.ExpiresIn)
}

// decodeNumbers decodes JSON keeping numbers as json.Number, so that a
// number sent as a string is told apart.
func decodeNumbers(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

func allPass(findings []inspect.Finding) bool {
	for _, f := range findings {
		if f.Status != inspect.Pass {
			return false
		}
	}
	return true
}

// summary names the findings that say most about a good token.
func summary(findings []inspect.Finding) string {
	var parts []string
	for _, f := range findings {
		switch f.Check {
		case "alg", "sub", "validity", "size":
			parts = append(parts, f.Check+" "+f.Detail)
		}
	}
	return strings.Join(parts, ", ")
}

// checkExpiresIn: expires_in is exp minus the moment of the answer. The
// moment is taken by this machine's clock, allowing for the server's clock
// as far as its Date shows it is off (the clock check judges that).
func (d *doctor) checkExpiresIn(a *answer, raw string, expiresIn any) {
	c := Check{Name: "expires_in", Status: Fail, Widget: inspect.InvalidToken,
		Fix: "answer expires_in as exp minus now: a client that caches by it hands the widget expired tokens"}
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		return
	}
	exp, err := tok.Claims.GetExpirationTime()
	if err != nil || exp == nil {
		return // inspect has reported it
	}
	allowed := int64(expiresInSlack)
	if skew, ok := serverSkew(a); ok {
		allowed += int64(skew.Abs() / time.Second)
	}
	n, isNumber := expiresIn.(json.Number)
	seconds, err := n.Int64()
	switch want := exp.Unix() - a.at.Unix(); {
	case !isNumber || err != nil:
		c.Detail = "absent or not a whole number of seconds"
	case seconds-want > allowed || want-seconds > allowed:
		c.Detail = fmt.Sprintf("%d s, but exp is %d s away", seconds, want)
	default:
		c = Check{Name: "expires_in", Status: Pass, Detail: fmt.Sprintf("%d s, agrees with exp", seconds)}
	}
	d.add(c)
}

// serverSkew is how far the server's clock, by its Date, is ahead of this
// machine's (behind when negative); ok is false without a Date.
func serverSkew(a *answer) (skew time.Duration, ok bool) {
	date, err := http.ParseTime(a.header.Get("Date"))
	if err != nil {
		return 0, false
	}
	// Date is in whole seconds: compare with this clock at the same grain.
	return date.Sub(a.at.Truncate(time.Second)), true
}

// checkClock compares the server's Date with this machine's clock: a
// token's iat, nbf and exp come from the server's, and Microsoft's servers
// and the widget compare them with their own.
func (d *doctor) checkClock(a *answer) {
	if a == nil {
		return
	}
	skew, ok := serverSkew(a)
	if !ok {
		d.add(Check{Name: "clock", Status: Warn, Detail: "/token's answer has no Date header: the server's clock was not compared"})
		return
	}
	ahead := "ahead of"
	if skew < 0 {
		skew, ahead = -skew, "behind"
	}
	if skew > maxClockSkew {
		d.add(Check{Name: "clock", Status: Fail, Widget: inspect.InvalidToken,
			Detail: fmt.Sprintf("the server's clock (its Date) is %s %s this machine's; at most %s is safe", skew, ahead, maxClockSkew),
			Fix:    "synchronise the server's clock (NTP), or this machine's if it is the one off"})
		return
	}
	d.add(Check{Name: "clock", Status: Pass, Detail: fmt.Sprintf("the server's Date is within %s of this machine's clock", skew)})
}
