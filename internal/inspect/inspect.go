// Package inspect checks a token against what Omnichannel requires, one
// finding per check, for the admin whose widget reports "Auth token provider
// provided invalid token". It knows nothing of how the token was made, so it
// judges tokens from any issuer.
package inspect

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/internal/jsondoc"
)

// Omnichannel's limits, and what travels comfortably in an HTTP header.
const (
	maxContextVariables = 100
	maxNameLength       = 100
	maxValueLength      = 4000
	warnTokenBytes      = 4 << 10
	maxTokenBytes       = 8 << 10
	maxLifetime         = 24 * time.Hour
	minSaneLifetime     = time.Minute
	// A numeric date above this is in milliseconds, which the widget
	// misreads (13 digits).
	maxSeconds = 99_999_999_999
)

// Status is the outcome of one check.
type Status string

// Outcomes. Only Pass and Warn let a token through.
const (
	Pass Status = "PASS"
	Warn Status = "WARN"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// WidgetError is the detail.errorCode of the lcw:error event with which
// Omnichannel's chat widget reports a failed authentication: what the admin
// sees, so that a failure names it.
type WidgetError int

// The widget's authentication errors.
const (
	// ProviderFailed: the page's token provider failed, or is not there.
	ProviderFailed WidgetError = 2
	// NoToken: the provider answered without a token.
	NoToken WidgetError = 3
	// InvalidToken: Omnichannel refused the token the provider gave.
	InvalidToken WidgetError = 4
)

func (e WidgetError) String() string {
	names := map[WidgetError]string{ProviderFailed: "provider failed", NoToken: "no token", InvalidToken: "invalid token"}
	return fmt.Sprintf("lcw:error %d (%s)", int(e), names[e])
}

// Finding is the outcome of one check, with its reason. Widget is the error
// the widget reports because of a failure, or 0.
type Finding struct {
	Status Status
	Check  string
	Detail string
	Widget WidgetError
}

// Line is the finding as inspect prints it: status, check and reason, and
// for a failure the widget's error.
func (f Finding) Line() string {
	line := fmt.Sprintf("%-4s  %-12s  %s", f.Status, f.Check, f.Detail)
	if f.Widget != 0 {
		line += "; the widget reports " + f.Widget.String()
	}
	return line
}

// OK reports whether every finding passed or only warned, and the signature
// was really checked.
func OK(findings []Finding) bool {
	verified := false
	for _, f := range findings {
		if f.Status == Fail || f.Status == Skip {
			return false
		}
		if strings.HasPrefix(f.Check, "signature") && f.Status == Pass {
			verified = true
		}
	}
	return verified
}

// KeySource is a set of public keys from one place: a public key URL (one
// PEM, or Omnichannel's array) or a JWKS.
type KeySource struct {
	Name string
	// Keys by kid; a single PEM key has the kid "".
	Keys map[string]*rsa.PublicKey
	// Expiry is each key's expiry when the source is Omnichannel's key
	// array (the zero time where an entry has none).
	Expiry map[string]time.Time
}

// Several reports whether the source publishes more than one key, in which
// case a token must name its key.
func (k KeySource) Several() bool { return len(k.Keys) > 1 }

// ParsePublicKeyURLBody reads what a public key URL serves: one PEM block,
// or the JSON array [{"kid", "publicKey": base64 of a PEM, "expiry"}].
func ParsePublicKeyURLBody(name string, data []byte) (KeySource, error) {
	src := KeySource{Name: name, Keys: map[string]*rsa.PublicKey{}}
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		pub, err := parsePEMPublicKey(trimmed)
		if err != nil {
			return src, err
		}
		src.Keys[""] = pub
		return src, nil
	}
	// A pitfall seen in the wild: the PEM served as a JSON string.
	var quoted string
	if json.Unmarshal(trimmed, &quoted) == nil && strings.Contains(quoted, "-----BEGIN") {
		return src, errors.New("a JSON-quoted string holding a PEM: serve the PEM itself, as text")
	}
	var entries []struct {
		KID       string `json:"kid"`
		PublicKey string `json:"publicKey"`
		Expiry    int64  `json:"expiry"`
	}
	if err := json.Unmarshal(trimmed, &entries); err != nil {
		return src, errors.New("neither a PEM public key nor a JSON array of {kid, publicKey, expiry}")
	}
	src.Expiry = map[string]time.Time{}
	for i, e := range entries {
		if strings.HasPrefix(e.PublicKey, "-----BEGIN") {
			return src, fmt.Errorf("entry %d: publicKey holds the PEM itself; it must be base64 of the whole PEM", i)
		}
		pemData, err := base64.StdEncoding.DecodeString(e.PublicKey)
		if err != nil {
			return src, fmt.Errorf("entry %d: publicKey is not base64 of a PEM", i)
		}
		pub, err := parsePEMPublicKey(pemData)
		if err != nil {
			return src, fmt.Errorf("entry %d: %v", i, err)
		}
		if e.KID == "" {
			return src, fmt.Errorf("entry %d has no kid", i)
		}
		if _, dup := src.Keys[e.KID]; dup {
			return src, fmt.Errorf("kid %q appears twice: each key needs its own kid", e.KID)
		}
		src.Keys[e.KID] = pub
		if e.Expiry != 0 {
			src.Expiry[e.KID] = time.Unix(e.Expiry, 0)
		}
	}
	if len(src.Keys) == 0 {
		return src, errors.New("the key array is empty")
	}
	return src, nil
}

// ParseJWKS reads the RSA keys of a JWKS, with the library that reads an
// identity provider's keys in jwt session mode. Keys of other types are
// skipped: Omnichannel verifies RS256 only.
func ParseJWKS(name string, data []byte) (KeySource, error) {
	src := KeySource{Name: name, Keys: map[string]*rsa.PublicKey{}}
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(data, &set); err != nil {
		return src, errors.New("not a JWKS")
	}
	for _, m := range set.Keys {
		if m.KTY != jwkset.KtyRSA {
			continue
		}
		k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			return src, fmt.Errorf("key %q: %v", m.KID, err)
		}
		pub, ok := k.Key().(*rsa.PublicKey)
		if !ok {
			return src, fmt.Errorf("key %q is a %T, not an RSA public key", m.KID, k.Key())
		}
		src.Keys[m.KID] = pub
	}
	if len(src.Keys) == 0 {
		return src, errors.New("the JWKS holds no RSA key")
	}
	return src, nil
}

func parsePEMPublicKey(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM PUBLIC KEY block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a valid public key: %v", err)
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an RSA key", pub)
	}
	return rsaPub, nil
}

// Check judges raw against Omnichannel's requirements at now, verifying its
// signature with every source given. Whatever fails is a token Omnichannel
// refuses, which the widget reports as an invalid token.
func Check(raw string, sources []KeySource, now time.Time) []Finding {
	out := check(raw, sources, now)
	for i := range out {
		if out[i].Status == Fail {
			out[i].Widget = InvalidToken
		}
	}
	return out
}

func check(raw string, sources []KeySource, now time.Time) []Finding {
	raw = strings.TrimSpace(raw)
	var out []Finding
	add := func(s Status, check, format string, args ...any) {
		out = append(out, Finding{Status: s, Check: check, Detail: fmt.Sprintf(format, args...)})
	}

	header, claims, err := decode(raw)
	if err != nil {
		add(Fail, "format", "%v", err)
		return out
	}
	add(Pass, "format", "three base64url parts; header and payload are JSON objects")

	alg, _ := header["alg"].(string)
	if alg == "RS256" {
		add(Pass, "alg", "RS256")
	} else {
		add(Fail, "alg", "%q: Omnichannel accepts RS256 only", alg)
	}

	kid, hasKID := header["kid"].(string)
	several := false
	for _, s := range sources {
		several = several || s.Several()
	}
	switch {
	case hasKID && kid != "":
		add(Pass, "kid", "%s", kid)
	case several:
		add(Fail, "kid", "absent, but several keys are published: the token must name its key")
	default:
		add(Warn, "kid", "absent: accepted only while a single PEM key is published")
	}

	if len(sources) == 0 {
		add(Skip, "signature", "not checked: give --publickey or --jwks")
	}
	for _, s := range sources {
		out = append(out, checkSignature(raw, alg, kid, s))
	}

	for _, name := range []string{"sub", "iss"} {
		if v, ok := claims[name].(string); ok && v != "" {
			add(Pass, name, "%s", v)
		} else {
			add(Fail, name, "required: a non-empty string; got %s", jsondoc.Kind(claims[name]))
		}
	}
	times := map[string]int64{}
	for _, name := range []string{"iat", "exp", "nbf"} {
		v, present := claims[name]
		if !present && name == "nbf" {
			continue
		}
		n, ok := v.(json.Number)
		secs, err := n.Int64()
		switch {
		case !present && name == "exp":
			add(Fail, name, "absent: Omnichannel requires it, and without it the widget never asks for a fresh token")
		case !ok || err != nil:
			add(Fail, name, "required: a number of seconds; got %s", jsondoc.Kind(v))
		case secs > maxSeconds:
			add(Fail, name, "%d has %d digits: milliseconds, but JWT dates are seconds (the widget reads 13 digits as milliseconds, Microsoft's servers and JWT libraries as seconds)", secs, len(n.String()))
		default:
			times[name] = secs
			add(Pass, name, "%s", time.Unix(secs, 0).UTC().Format(time.RFC3339))
		}
	}
	out = append(out, checkValidity(times, now)...)
	out = append(out, checkContext(claims)...)

	switch size := len(raw); {
	case size > maxTokenBytes:
		add(Fail, "size", "%d bytes: too large to travel in an HTTP header (limit %d)", size, maxTokenBytes)
	case size > warnTokenBytes:
		add(Warn, "size", "%d bytes: over %d, some proxies refuse headers this large", size, warnTokenBytes)
	default:
		add(Pass, "size", "%d bytes", size)
	}
	return out
}

// decode splits and decodes the token without trusting it.
func decode(raw string) (header, claims map[string]any, err error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("a JWT has three dot-separated parts; this has %d", len(parts))
	}
	header, err = decodePart(parts[0], "header")
	if err != nil {
		return nil, nil, err
	}
	claims, err = decodePart(parts[1], "payload")
	return header, claims, err
}

func decodePart(part, name string) (map[string]any, error) {
	data, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return nil, fmt.Errorf("the %s is not base64url without padding", name)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("the %s is not a JSON object", name)
	}
	return m, nil
}

func checkSignature(raw, alg, kid string, src KeySource) Finding {
	check := "signature (" + src.Name + ")"
	key, ok := src.Keys[kid]
	if !ok && !src.Several() {
		// One key published: it is the key, whatever the token names.
		for _, k := range src.Keys {
			key, ok = k, true
		}
	}
	if !ok {
		return Finding{Status: Fail, Check: check, Detail: fmt.Sprintf("kid %q is not among the %d published keys", kid, len(src.Keys))}
	}
	if alg != "RS256" {
		return Finding{Status: Fail, Check: check, Detail: "not checked: the algorithm is not RS256"}
	}
	_, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		return Finding{Status: Fail, Check: check, Detail: "invalid: " + err.Error()}
	}
	return Finding{Status: Pass, Check: check, Detail: "valid"}
}

func checkValidity(times map[string]int64, now time.Time) []Finding {
	var out []Finding
	exp, hasExp := times["exp"]
	iat, hasIat := times["iat"]
	if nbf, ok := times["nbf"]; ok && now.Unix() < nbf {
		out = append(out, Finding{Status: Fail, Check: "validity", Detail: fmt.Sprintf("not valid for another %s (nbf)", time.Duration(nbf-now.Unix())*time.Second)})
	} else if hasExp && now.Unix() >= exp {
		out = append(out, Finding{Status: Fail, Check: "validity", Detail: fmt.Sprintf("expired %s ago; the widget asks for a new token once exp passes", time.Duration(now.Unix()-exp)*time.Second)})
	} else if hasExp {
		out = append(out, Finding{Status: Pass, Check: "validity", Detail: fmt.Sprintf("valid for another %s", time.Duration(exp-now.Unix())*time.Second)})
	}
	if hasExp && hasIat {
		switch life := time.Duration(exp-iat) * time.Second; {
		case life <= 0 || life > maxLifetime:
			out = append(out, Finding{Status: Fail, Check: "lifetime", Detail: fmt.Sprintf("exp - iat is %s; want more than 0 and at most %s", life, maxLifetime)})
		case life < minSaneLifetime:
			out = append(out, Finding{Status: Warn, Check: "lifetime", Detail: fmt.Sprintf("%s: shorter than a minute, the widget will ask again almost at once", life)})
		default:
			out = append(out, Finding{Status: Pass, Check: "lifetime", Detail: life.String()})
		}
	}
	return out
}

// checkContext checks lwicontexts: a string holding a flat JSON object of
// primitives (each bare or displayable) within Omnichannel's limits.
func checkContext(claims map[string]any) []Finding {
	const check = "lwicontexts"
	fail := func(format string, args ...any) []Finding {
		return []Finding{{Status: Fail, Check: check, Detail: fmt.Sprintf(format, args...)}}
	}
	v, present := claims[check]
	if !present {
		return []Finding{{Status: Pass, Check: check, Detail: "absent (no context variables)"}}
	}
	text, ok := v.(string)
	if _, isObject := v.(map[string]any); isObject {
		return fail("sent as an object; it must be a string holding the serialized object (JSON-encode the object once more)")
	}
	if !ok {
		return fail("must be a string holding JSON; got %s", jsondoc.Kind(v))
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var vars map[string]any
	if err := dec.Decode(&vars); err != nil || vars == nil {
		return fail("the string is not a JSON object")
	}
	if len(vars) > maxContextVariables {
		return fail("%d variables; at most %d", len(vars), maxContextVariables)
	}
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Strings(names)
	listed := make([]string, len(names))
	var hidden []string
	for i, name := range names {
		listed[i] = name
		if utf8.RuneCountInString(name) > maxNameLength {
			return fail("the name %.20q... is over %d characters", name, maxNameLength)
		}
		v := vars[name]
		if obj, ok := v.(map[string]any); ok {
			inner, shown, err := displayable(obj)
			if err != nil {
				return fail("%q: %v", name, err)
			}
			if v = inner; shown {
				listed[i] += " (displayed)"
			} else {
				hidden = append(hidden, name)
			}
		}
		var value string
		switch x := v.(type) {
		case string:
			value = x
		case json.Number:
			value = x.String()
		case bool:
			value = fmt.Sprint(x)
		default:
			return fail("%q is %s; values must be strings, numbers or booleans, bare or as %s", name, jsondoc.Kind(x), displayableForm)
		}
		if n := utf8.RuneCountInString(value); n > maxValueLength {
			return fail("%q is %d characters; at most %d", name, n, maxValueLength)
		}
	}
	detail := fmt.Sprintf("%d variables: %s", len(names), strings.Join(listed, ", "))
	if len(hidden) > 0 {
		return []Finding{{Status: Warn, Check: check, Detail: detail + fmt.Sprintf(
			"; isDisplayable is false for %s, which the agent does not see: send the bare value instead", strings.Join(hidden, ", "))}}
	}
	return []Finding{{Status: Pass, Check: check, Detail: detail}}
}

// displayableForm is how a context value asks to be shown to the agent.
const displayableForm = `{"value": <primitive>, "isDisplayable": true}`

// displayable reads a context value given as an object: the chat SDK's
// displayable form, {"value": <primitive>, "isDisplayable": true}, or the
// same with "Value", the spelling of Microsoft's "Display custom context"
// page. It returns the value and whether it is shown; any other object, and
// any nesting, is refused, as Omnichannel takes primitives only.
func displayable(obj map[string]any) (value any, shown bool, err error) {
	lower, hasLower := obj["value"]
	upper, hasUpper := obj["Value"]
	flag, isBool := obj["isDisplayable"].(bool)
	if len(obj) != 2 || hasLower == hasUpper || !isBool {
		return nil, false, fmt.Errorf("an object other than %s (or \"Value\"); values must be primitives", displayableForm)
	}
	if value = lower; hasUpper {
		value = upper
	}
	if !jsondoc.IsPrimitive(value) {
		return nil, false, fmt.Errorf("the displayable value is %s; it must be a string, a number or a boolean", jsondoc.Kind(value))
	}
	return value, flag, nil
}
