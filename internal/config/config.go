// Package config reads chattoken's configuration from the environment and
// checks every value once, at start, so that a mistake stops the process with
// one line that names the variable instead of surfacing on the first request.
package config

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/sethvargo/go-envconfig"

	"github.com/chattoken/chattoken/internal/clientip"
	"github.com/chattoken/chattoken/internal/jsondoc"
)

// Prefix is put in front of every variable name.
const Prefix = "CHATTOKEN_"

// Signing algorithms.
const (
	AlgRS256 = "RS256"
	AlgHS256 = "HS256"
)

// Subject formats: any non-empty string, or a GUID such as a Dataverse
// contact id.
const (
	SubjectAny  = "any"
	SubjectGUID = "guid"
)

// Session modes.
const (
	ModeIntrospect = "introspect"
	ModeJWT        = "jwt"
	ModeHeader     = "header"
)

// Config is the whole configuration of the service. The env tags name the
// variables without Prefix.
type Config struct {
	Addr                  string        `env:"ADDR, default=:8080"`
	Issuer                string        `env:"ISSUER"`
	TokenTTL              time.Duration `env:"TOKEN_TTL, default=15m"`
	ClockSkew             time.Duration `env:"CLOCK_SKEW, default=30s"`
	SigningAlg            string        `env:"SIGNING_ALG, default=RS256"`
	SigningKeyFile        string        `env:"SIGNING_KEY_FILE"`
	AllowWorldReadableKey bool          `env:"ALLOW_WORLD_READABLE_KEY, default=false"`
	SessionMode           string        `env:"SESSION_MODE, default=introspect"`
	IntrospectURL         string        `env:"INTROSPECT_URL"`
	IntrospectTimeout     time.Duration `env:"INTROSPECT_TIMEOUT, default=2s"`
	IntrospectCacheTTL    time.Duration `env:"INTROSPECT_CACHE_TTL, default=30s"`
	IntrospectCacheSize   int           `env:"INTROSPECT_CACHE_SIZE, default=5000"`
	IntrospectCacheBytes  int64         `env:"INTROSPECT_CACHE_BYTES, default=16777216"`
	IntrospectHeaderList  string        `env:"INTROSPECT_HEADERS, default=Cookie,Authorization"`
	JWTJWKSURL            string        `env:"JWT_JWKS_URL"`
	JWTIssuer             string        `env:"JWT_ISSUER"`
	JWTAudience           string        `env:"JWT_AUDIENCE"`
	JWTAnyAudience        bool          `env:"JWT_ANY_AUDIENCE, default=false"`
	JWTTypeList           string        `env:"JWT_TYPES, default=JWT,at+jwt,application/at+jwt"`
	JWTAlgorithmList      string        `env:"JWT_ALGORITHMS, default=RS256,ES256"`
	JWTLeeway             time.Duration `env:"JWT_LEEWAY, default=30s"`
	JWTHeader             string        `env:"JWT_HEADER"`
	JWTCookie             string        `env:"JWT_COOKIE"`
	HeaderSubject         string        `env:"HEADER_SUBJECT"`
	HeaderClaimList       string        `env:"HEADER_CLAIMS"`
	TrustedProxyList      string        `env:"TRUSTED_PROXIES"`
	IntrospectConcurrency int           `env:"INTROSPECT_CONCURRENCY, default=256"`
	RateLimitSubject      int           `env:"RATE_LIMIT_SUBJECT, default=60"`
	RateLimitIP           int           `env:"RATE_LIMIT_IP, default=0"`
	RedisURL              string        `env:"REDIS_URL"`
	MetricsAddr           string        `env:"METRICS_ADDR, default=:9090"`
	TokenReuse            bool          `env:"TOKEN_REUSE, default=true"`
	SubjectField          string        `env:"SUBJECT_FIELD, default=sub"`
	SubjectFormat         string        `env:"SUBJECT_FORMAT, default=any"`
	IdentityClaimList     string        `env:"IDENTITY_CLAIMS"`
	ShutdownDelay         time.Duration `env:"SHUTDOWN_DELAY, default=0s"`
	LogLevelName          string        `env:"LOG_LEVEL, default=info"`
	ContextFile           string        `env:"CONTEXT_FILE"`
	MaxContextBytes       int           `env:"MAX_CONTEXT_BYTES, default=4096"`
	CORSOriginList        string        `env:"CORS_ORIGINS"`

	// Parsed from the raw values above by Load.
	Subject        jsondoc.Path
	IdentityClaims []jsondoc.Field
	LogLevel       zerolog.Level
	CORSOrigins    []string
	// IntrospectHeaders are the request headers forwarded upstream.
	IntrospectHeaders []string
	// JWTAlgorithms are the algorithms a bearer token may be signed with.
	JWTAlgorithms []string
	// JWTTypes are the typ header values a bearer token may carry.
	JWTTypes []string
	// HeaderClaims build the session document from proxy headers.
	HeaderClaims []jsondoc.Field
	// TrustedProxies are the peers whose forwarded headers are believed.
	TrustedProxies clientip.Trusted
}

// asymmetricAlgorithms are the bearer token algorithms jwt mode accepts:
// never "none", never HMAC, which a public key could be abused to forge.
var asymmetricAlgorithms = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
}

// Error is a configuration mistake. Its text is the one line an operator
// sees: the variable and what is wrong with it, never the value of a secret.
type Error struct {
	Var    string
	Reason string
}

func (e *Error) Error() string { return e.Var + ": " + e.Reason }

// Errorf returns an *Error for the variable named by key (without Prefix).
func Errorf(key, format string, args ...any) error {
	return &Error{Var: Prefix + key, Reason: fmt.Sprintf(format, args...)}
}

// Limits of the values an operator may choose. They are exported so the
// reference (docs/configuration.md), the tests and the messages agree.
const (
	MinTokenTTL          = time.Minute
	MaxTokenTTL          = 24 * time.Hour
	MaxClockSkew         = 5 * time.Minute
	MaxShutdownDelay     = 30 * time.Second
	MaxIntrospectTimeout = 8 * time.Second
	// The session caches' memory budget: below 64 KiB too few sessions
	// fit to be worth caching.
	MinIntrospectCacheBytes = 64 << 10
	MaxIntrospectCacheBytes = 1 << 30
	// MaxContextBytes keeps lwicontexts small enough for the token to travel
	// in an HTTP header.
	MaxContextBytes = 6144
)

// Load reads the configuration through getenv and checks it. Every error it
// returns is an *Error. An empty variable counts as unset, so that
// `CHATTOKEN_X=` in a compose file means "the default".
func Load(ctx context.Context, getenv func(string) string) (*Config, error) {
	return loadWith(ctx, getenv, (*Config).serveChecks)
}

// LoadMinting reads only what minting a token needs: the issuer, lifetimes,
// key and schema, for commands that sign without serving (chattoken mint).
func LoadMinting(ctx context.Context, getenv func(string) string) (*Config, error) {
	return loadWith(ctx, getenv, (*Config).mintChecks)
}

func loadWith(ctx context.Context, getenv func(string) string, checks func(*Config) []func() error) (*Config, error) {
	var cfg Config
	// The library reports a bad value by Go field name; remembering the last
	// key it asked for lets the message name the variable instead.
	var lastKey string
	lookup := envconfig.LookuperFunc(func(key string) (string, bool) {
		lastKey = key
		v := getenv(Prefix + key)
		return v, v != ""
	})
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &cfg, Lookuper: lookup}); err != nil {
		return nil, &Error{Var: Prefix + lastKey, Reason: "not a valid " + kindOf(lastKey)}
	}
	for _, check := range checks(&cfg) {
		if err := check(); err != nil {
			return nil, err
		}
	}
	return &cfg, nil
}

// kindOf describes the type of the field read from key, for a parse error
// message that says what was expected without repeating the value.
func kindOf(key string) string {
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name != key {
			continue
		}
		if f.Type == reflect.TypeFor[time.Duration]() {
			return "duration (for example 30s, 15m or 1h)"
		}
		return f.Type.Kind().String()
	}
	return "value"
}

// A check reads only the raw values (the fields with an env tag) and sets
// only the parsed fields it owns, each from scratch, so checks may run in
// any order and again with the same result (TestChecksAreIndependent).

// mintChecks check what signing a token depends on.
func (c *Config) mintChecks() []func() error {
	return []func() error{c.checkIssuer, c.checkTokenTimes, c.checkSigning, c.checkClaims, c.checkContext, c.checkLogLevel}
}

// serveChecks add what serving depends on.
func (c *Config) serveChecks() []func() error {
	return append(c.mintChecks(), c.checkAddr, c.checkServerTimes, c.checkTrustedProxies, c.checkSession, c.checkCORS, c.checkLimits, c.checkMetrics)
}

func (c *Config) checkAddr() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return Errorf("ADDR", "must be host:port or :port")
	}
	return nil
}

func (c *Config) checkIssuer() error {
	if strings.TrimSpace(c.Issuer) == "" {
		return Errorf("ISSUER", "is required: the iss claim of every token, for example https://shop.example")
	}
	return nil
}

func (c *Config) checkTokenTimes() error {
	if err := wholeSecondsBetween("TOKEN_TTL", c.TokenTTL, MinTokenTTL, MaxTokenTTL); err != nil {
		return err
	}
	return wholeSecondsBetween("CLOCK_SKEW", c.ClockSkew, 0, MaxClockSkew)
}

func (c *Config) checkServerTimes() error {
	if c.IntrospectTimeout <= 0 || c.IntrospectTimeout > MaxIntrospectTimeout {
		return Errorf("INTROSPECT_TIMEOUT", "must be above 0 and at most %s, inside the widget's 10s budget; got %s", MaxIntrospectTimeout, c.IntrospectTimeout)
	}
	if c.ShutdownDelay < 0 || c.ShutdownDelay > MaxShutdownDelay {
		return Errorf("SHUTDOWN_DELAY", "must be between 0s and %s; got %s", MaxShutdownDelay, c.ShutdownDelay)
	}
	return nil
}

// wholeSecondsBetween checks a duration that ends up in a token, where every
// time is a whole number of seconds.
func wholeSecondsBetween(key string, d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return Errorf(key, "must be between %s and %s; got %s", lo, hi, d)
	}
	if d%time.Second != 0 {
		return Errorf(key, "must be a whole number of seconds; got %s", d)
	}
	return nil
}

func (c *Config) checkSigning() error {
	if c.SigningAlg != AlgRS256 && c.SigningAlg != AlgHS256 {
		return Errorf("SIGNING_ALG", "must be RS256 (what Omnichannel accepts) or HS256; got %q", c.SigningAlg)
	}
	if c.SigningKeyFile == "" {
		return Errorf("SIGNING_KEY_FILE", "is required: the path of the signing key")
	}
	return nil
}

func (c *Config) checkSession() error {
	switch c.SessionMode {
	case ModeIntrospect:
		if c.IntrospectURL == "" {
			return Errorf("INTROSPECT_URL", "is required in introspect mode: the site's own \"who am I\" endpoint")
		}
		// The URL may carry credentials, so the message never repeats it.
		if !absoluteHTTPURL(c.IntrospectURL) {
			return Errorf("INTROSPECT_URL", "must be an absolute http or https URL")
		}
		if c.IntrospectCacheTTL < 0 || c.IntrospectCacheTTL > 10*time.Minute {
			return Errorf("INTROSPECT_CACHE_TTL", "must be between 0s (no cache) and 10m; got %s", c.IntrospectCacheTTL)
		}
		if c.IntrospectCacheSize < 1 || c.IntrospectCacheSize > 1_000_000 {
			return Errorf("INTROSPECT_CACHE_SIZE", "must be between 1 and 1000000; got %d", c.IntrospectCacheSize)
		}
		if c.IntrospectCacheBytes < MinIntrospectCacheBytes || c.IntrospectCacheBytes > MaxIntrospectCacheBytes {
			return Errorf("INTROSPECT_CACHE_BYTES", "must be between %d (64 KiB) and %d (1 GiB); got %d", MinIntrospectCacheBytes, MaxIntrospectCacheBytes, c.IntrospectCacheBytes)
		}
		var headers []string
		for h := range strings.SplitSeq(c.IntrospectHeaderList, ",") {
			if h = strings.TrimSpace(h); h != "" {
				if !validHeaderName(h) {
					return Errorf("INTROSPECT_HEADERS", "%q is not a header name", h)
				}
				headers = append(headers, http.CanonicalHeaderKey(h))
			}
		}
		if len(headers) == 0 {
			return Errorf("INTROSPECT_HEADERS", "must name at least one header that carries the session")
		}
		c.IntrospectHeaders = headers
	case ModeJWT:
		return c.checkJWT()
	case ModeHeader:
		return c.checkHeader()
	default:
		return Errorf("SESSION_MODE", "must be introspect, jwt or header; got %q", c.SessionMode)
	}
	return nil
}

func (c *Config) checkJWT() error {
	// Without an issuer and an audience to match, any token the provider's
	// keys verify would do: one the provider issued for another API, or one
	// of another tenant sharing its keys.
	if c.JWTIssuer == "" {
		return Errorf("JWT_ISSUER", "is required in jwt mode: the iss every token must carry, for example https://login.shop.example")
	}
	switch {
	case c.JWTAudience == "" && !c.JWTAnyAudience:
		return Errorf("JWT_AUDIENCE", "is required in jwt mode: the aud a token for this service carries (or set CHATTOKEN_JWT_ANY_AUDIENCE=true to accept any)")
	case c.JWTAudience != "" && c.JWTAnyAudience:
		return Errorf("JWT_ANY_AUDIENCE", "contradicts CHATTOKEN_JWT_AUDIENCE: set one of them")
	}
	for key, v := range map[string]string{"JWT_JWKS_URL": c.JWTJWKSURL, "JWT_ISSUER": c.JWTIssuer} {
		if v == "" {
			continue
		}
		if !absoluteHTTPURL(v) {
			return Errorf(key, "must be an absolute http or https URL")
		}
	}
	var types, algorithms []string
	for typ := range strings.SplitSeq(c.JWTTypeList, ",") {
		if typ = strings.TrimSpace(typ); typ == "" {
			continue
		}
		if _, err := jsondoc.JWTType(typ); err != nil {
			return Errorf("JWT_TYPES", "%q is not a media type such as JWT or at+jwt", typ)
		}
		types = append(types, typ)
	}
	if len(types) == 0 {
		return Errorf("JWT_TYPES", "must list at least one type, for example JWT,at+jwt")
	}
	if c.JWTHeader != "" {
		if !validHeaderName(c.JWTHeader) {
			return Errorf("JWT_HEADER", "%q is not a header name", c.JWTHeader)
		}
		// The header is where a proxy puts its signed assertion, the one
		// source of the token: a cookie as a second source would accept
		// tokens that never passed the proxy.
		if c.JWTCookie != "" {
			return Errorf("JWT_COOKIE", "cannot be combined with CHATTOKEN_JWT_HEADER: the token is read from that header only")
		}
	}
	for alg := range strings.SplitSeq(c.JWTAlgorithmList, ",") {
		alg = strings.TrimSpace(alg)
		if alg == "" {
			continue
		}
		if !asymmetricAlgorithms[alg] {
			return Errorf("JWT_ALGORITHMS", "%q is refused: only asymmetric algorithms (RS*, PS*, ES*, EdDSA) are allowed, never none or HMAC", alg)
		}
		algorithms = append(algorithms, alg)
	}
	if len(algorithms) == 0 {
		return Errorf("JWT_ALGORITHMS", "must list at least one algorithm")
	}
	if c.JWTLeeway < 0 || c.JWTLeeway > 5*time.Minute {
		return Errorf("JWT_LEEWAY", "must be between 0s and 5m; got %s", c.JWTLeeway)
	}
	c.JWTTypes, c.JWTAlgorithms = types, algorithms
	return nil
}

func (c *Config) checkHeader() error {
	if !validHeaderName(c.HeaderSubject) {
		return Errorf("HEADER_SUBJECT", "is required in header mode: the header the proxy puts the user in, for example X-Auth-Request-User")
	}
	// Parsed here as well as in checkTrustedProxies, so that neither check
	// depends on the other having run.
	if t, err := clientip.ParseTrusted(c.TrustedProxyList); err == nil && t.Empty() {
		return Errorf("TRUSTED_PROXIES", "is required in header mode: the proxies whose identity headers are believed")
	}
	var claims []jsondoc.Field
	for pair := range strings.SplitSeq(c.HeaderClaimList, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		path, header, ok := strings.Cut(pair, "=")
		p, err := jsondoc.ParsePath(strings.TrimSpace(path))
		if !ok || err != nil || !validHeaderName(strings.TrimSpace(header)) {
			return Errorf("HEADER_CLAIMS", "%q is not path=Header-Name", pair)
		}
		claims = append(claims, jsondoc.Field{Name: http.CanonicalHeaderKey(strings.TrimSpace(header)), Path: p})
	}
	c.HeaderClaims = claims
	return nil
}

func (c *Config) checkTrustedProxies() error {
	t, err := clientip.ParseTrusted(c.TrustedProxyList)
	if err != nil {
		return Errorf("TRUSTED_PROXIES", "%v", err)
	}
	c.TrustedProxies = t
	return nil
}

func (c *Config) checkLimits() error {
	if c.RateLimitSubject < 0 {
		return Errorf("RATE_LIMIT_SUBJECT", "must be 0 (off) or a number of requests per minute; got %d", c.RateLimitSubject)
	}
	if c.RateLimitIP < 0 {
		return Errorf("RATE_LIMIT_IP", "must be 0 (off) or a number of requests per minute; got %d", c.RateLimitIP)
	}
	if c.IntrospectConcurrency < 1 || c.IntrospectConcurrency > 100_000 {
		return Errorf("INTROSPECT_CONCURRENCY", "must be between 1 and 100000; got %d", c.IntrospectConcurrency)
	}
	if c.RedisURL != "" {
		// The URL may hold a password, so the message never repeats it.
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return Errorf("REDIS_URL", "must be redis://[user:password@]host:port[/db] or rediss://...")
		}
	}
	return nil
}

// MetricsOff turns the metrics listener off. (An empty variable means "the
// default" for every variable, so off needs a word of its own.)
const MetricsOff = "off"

func (c *Config) checkMetrics() error {
	if c.MetricsAddr == MetricsOff {
		return nil
	}
	_, port, err := net.SplitHostPort(c.MetricsAddr)
	if err != nil {
		return Errorf("METRICS_ADDR", "must be host:port, :port, or off")
	}
	// Port 0 asks for any free port, so it cannot collide.
	if c.MetricsAddr == c.Addr && port != "0" {
		return Errorf("METRICS_ADDR", "must differ from CHATTOKEN_ADDR: metrics are never served on the public listener")
	}
	return nil
}

// absoluteHTTPURL reports whether s is an absolute http or https URL.
func absoluteHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// validHeaderName accepts an HTTP field name (RFC 9110 token characters).
func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// checkClaims parses where the subject and identity claims sit in the
// session document.
func (c *Config) checkClaims() error {
	subject, err := jsondoc.ParsePath(c.SubjectField)
	if err != nil {
		return Errorf("SUBJECT_FIELD", "%v", err)
	}
	c.Subject = subject
	if c.SubjectFormat != SubjectAny && c.SubjectFormat != SubjectGUID {
		return Errorf("SUBJECT_FORMAT", "must be %s or %s (a Dataverse contact or account id); got %q", SubjectAny, SubjectGUID, c.SubjectFormat)
	}
	claims, err := jsondoc.ParseClaims(c.IdentityClaimList)
	if err != nil {
		return Errorf("IDENTITY_CLAIMS", "%v", err)
	}
	c.IdentityClaims = claims
	return nil
}

func (c *Config) checkLogLevel() error {
	level, err := zerolog.ParseLevel(strings.ToLower(c.LogLevelName))
	if err != nil || c.LogLevelName == "" {
		return Errorf("LOG_LEVEL", "must be one of trace, debug, info, warn, error, fatal, panic, disabled; got %q", c.LogLevelName)
	}
	c.LogLevel = level
	return nil
}

func (c *Config) checkContext() error {
	if c.MaxContextBytes < 2 || c.MaxContextBytes > MaxContextBytes {
		return Errorf("MAX_CONTEXT_BYTES", "must be between 2 and %d; got %d", MaxContextBytes, c.MaxContextBytes)
	}
	return nil
}

// checkCORS accepts exact origins only. A wildcard would let any site read
// tokens minted with its visitors' cookies.
func (c *Config) checkCORS() error {
	var origins []string
	for item := range strings.SplitSeq(c.CORSOriginList, ",") {
		origin := strings.TrimSpace(item)
		if origin == "" {
			continue
		}
		if strings.Contains(origin, "*") {
			return Errorf("CORS_ORIGINS", "wildcards are refused: list each origin that may read tokens, for example https://shop.example")
		}
		u, err := url.Parse(origin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return Errorf("CORS_ORIGINS", "%q is not an origin of the form https://host[:port]", origin)
		}
		origins = append(origins, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	c.CORSOrigins = origins
	return nil
}
