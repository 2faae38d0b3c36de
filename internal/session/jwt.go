package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/chattoken/chattoken/internal/jsondoc"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// JWTOptions configure a JWT session source.
type JWTOptions struct {
	// JWKSURL is where the identity provider's keys are; when empty they
	// are discovered from Issuer's /.well-known/openid-configuration.
	JWKSURL string
	// Issuer must equal the token's iss; it is required.
	Issuer string
	// Audience must be among the token's aud. It is required unless
	// AnyAudience says that a token for any audience will do.
	Audience    string
	AnyAudience bool
	// Types are the typ header values a token may carry, compared after
	// jsondoc.JWTType; a token without typ is always accepted.
	Types []string
	// Algorithms pins what a token may be signed with (asymmetric only).
	Algorithms []string
	// Leeway is allowed on exp, nbf and iat.
	Leeway time.Duration
	// Header, when set, is the only request header the token is read from,
	// bare or as "Bearer <token>"; Authorization is then ignored.
	Header string
	// Cookie, when set, is a cookie that may carry the token instead of an
	// Authorization: Bearer header. It cannot be combined with Header.
	Cookie string
	// OnRefreshError is told when refreshing the keys fails.
	OnRefreshError func(url string, err error)
}

// JWT validates a bearer token (an OIDC access or ID token) against the
// identity provider's published keys; its validated claims are the session
// document.
type JWT struct {
	keys    keyfunc.Keyfunc
	parser  *jwt.Parser
	types   map[string]bool
	header  string
	cookie  string
	jwksURL string
	// refetch downloads the JWKS again into the storage keys reads from;
	// group makes concurrent requests share one download, and limiter
	// allows a new one at most every jwksUnknownKIDEvery.
	refetch func(context.Context)
	limiter *rate.Limiter
	group   singleflight.Group
}

var _ Source = (*JWT)(nil)

// Key fetching: a background refresh, and a refresh when a token names an
// unknown kid (the provider rotated its keys), at most once per interval.
// A request never waits for the limiter: past it, an unknown kid is refused
// at once. Only a download in flight is waited for, by the request that
// started it and by those that arrive meanwhile, so that the first visitors
// after a rotation are all accepted.
//
// keyfunc's own refresh (jwkset's RefreshUnknownKID) does not do this: its
// download runs under the deadline of the wait for its limiter
// (RateLimitWaitMax), so a wait short enough to refuse a flood at once also
// cuts the download short, and a longer one holds every request with an
// unknown kid until the limiter allows another download.
const (
	jwksRefreshEvery      = 15 * time.Minute
	jwksUnknownKIDEvery   = 5 * time.Second
	jwksHTTPTimeout       = 5 * time.Second
	discoveryDocumentPath = "/.well-known/openid-configuration"
)

// NewJWT fetches (or discovers, then fetches) the provider's keys and keeps
// them fresh until ctx ends.
func NewJWT(ctx context.Context, opt JWTOptions) (*JWT, error) {
	switch {
	case opt.Issuer == "":
		return nil, errors.New("jwt session: an issuer is required")
	case opt.Audience == "" && !opt.AnyAudience:
		return nil, errors.New("jwt session: an audience is required unless any audience is allowed")
	case opt.Header != "" && opt.Cookie != "":
		return nil, errors.New("jwt session: the token is read from a header or from a cookie, not both")
	}
	types := map[string]bool{}
	for _, typ := range opt.Types {
		t, err := jsondoc.JWTType(typ)
		if err != nil {
			return nil, fmt.Errorf("jwt session: typ %q: %w", typ, err)
		}
		types[t] = true
	}
	client := &http.Client{Timeout: jwksHTTPTimeout}
	jwksURL := opt.JWKSURL
	if jwksURL == "" {
		u, err := discoverJWKS(ctx, client, opt.Issuer)
		if err != nil {
			return nil, err
		}
		jwksURL = u
	}
	// One memory storage holds the keys. The library fills it at start and
	// refreshes it in the background; an unknown kid fills it again through
	// a one-shot storage over the same memory (see Lookup).
	mem := jwkset.NewMemoryStorage()
	options := func(ctx context.Context, every time.Duration) jwkset.HTTPClientStorageOptions {
		return jwkset.HTTPClientStorageOptions{
			Client:          client,
			Ctx:             ctx,
			HTTPTimeout:     jwksHTTPTimeout,
			RefreshInterval: every,
			Storage:         mem,
			RefreshErrorHandler: func(_ context.Context, err error) {
				if opt.OnRefreshError != nil {
					opt.OnRefreshError(jwksURL, err)
				}
			},
		}
	}
	store, err := jwkset.NewStorageFromHTTP(jwksURL, options(ctx, jwksRefreshEvery))
	if err != nil {
		return nil, fmt.Errorf("fetching the identity provider's keys from %s: %w", jwksURL, err)
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: store})
	if err != nil {
		return nil, err
	}
	refetch := func(ctx context.Context) {
		// A one-shot download reports its failure as an error, not to
		// the RefreshErrorHandler.
		if _, err := jwkset.NewStorageFromHTTP(jwksURL, options(ctx, 0)); err != nil && opt.OnRefreshError != nil {
			opt.OnRefreshError(jwksURL, err)
		}
	}
	parserOptions := []jwt.ParserOption{
		jwt.WithValidMethods(opt.Algorithms),
		jwt.WithLeeway(opt.Leeway),
		jwt.WithExpirationRequired(),
		// A token issued in the future (beyond the leeway) comes from a
		// provider with a broken clock or from a forger planning ahead.
		jwt.WithIssuedAt(),
		jwt.WithIssuer(opt.Issuer),
		// Numbers stay exact, as in every other session document.
		jwt.WithJSONNumber(),
	}
	if opt.Audience != "" {
		parserOptions = append(parserOptions, jwt.WithAudience(opt.Audience))
	}
	return &JWT{
		keys: kf, parser: jwt.NewParser(parserOptions...), types: types,
		header: http.CanonicalHeaderKey(opt.Header), cookie: opt.Cookie, jwksURL: jwksURL,
		refetch: refetch, limiter: rate.NewLimiter(rate.Every(jwksUnknownKIDEvery), 1),
	}, nil
}

// JWKSURL is where the keys are fetched from (after discovery).
func (s *JWT) JWKSURL() string { return s.jwksURL }

// Lookup implements Source.
func (s *JWT) Lookup(ctx context.Context, r *http.Request) (jsondoc.Document, error) {
	raw, err := s.rawToken(r)
	if err != nil {
		return nil, err
	}
	if raw == "" {
		return nil, fmt.Errorf("%w: no bearer token", ErrUnauthenticated)
	}
	claims := jwt.MapClaims{}
	_, err = s.parser.ParseWithClaims(raw, claims, s.keyfunc(ctx))
	if errors.Is(err, jwkset.ErrKeyNotFound) {
		// The provider may have rotated its keys. Whether or not this
		// request may download them again, another may just have: try
		// once more either way.
		s.refreshKeys(ctx)
		claims = jwt.MapClaims{}
		_, err = s.parser.ParseWithClaims(raw, claims, s.keyfunc(ctx))
	}
	if err != nil {
		// The reason (expired, wrong audience, bad signature...) goes to the
		// log; the token itself never does.
		return nil, fmt.Errorf("%w: bearer token refused: %v", ErrUnauthenticated, err)
	}
	return jsondoc.Document(claims), nil
}

// refreshKeys downloads the provider's keys again, or waits for the
// download in flight; past the limiter, with none in flight, it returns at
// once. The download has a deadline of its own, so the client that started
// it leaving does not cut it short for those waiting on it.
func (s *JWT) refreshKeys(ctx context.Context) {
	_, _, _ = s.group.Do("refetch", func() (any, error) {
		if s.limiter.Allow() {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksHTTPTimeout)
			defer cancel()
			s.refetch(fctx)
		}
		return nil, nil
	})
}

// rawToken finds the token where the configuration says it travels: only
// in the configured header when there is one (a proxy's signed assertion,
// which a client must not be able to replace by a token of its own in
// Authorization), else in Authorization and then the cookie.
func (s *JWT) rawToken(r *http.Request) (string, error) {
	if s.header != "" {
		v, err := single(r, s.header)
		if scheme, token, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
			v = token
		}
		return strings.TrimSpace(v), err
	}
	if raw := bearerToken(r); raw != "" || s.cookie == "" {
		return raw, nil
	}
	if c, err := r.Cookie(s.cookie); err == nil {
		return c.Value, nil
	}
	return "", nil
}

// keyfunc checks the token's header, then finds its key. The header is
// checked before the key is looked up, so a refused token never makes the
// service download the provider's keys again.
func (s *JWT) keyfunc(ctx context.Context) jwt.Keyfunc {
	keys := s.keys.KeyfuncCtx(ctx)
	return func(t *jwt.Token) (any, error) {
		if err := s.checkHeader(t.Header); err != nil {
			return nil, err
		}
		return keys(t)
	}
}

// checkHeader refuses a token whose header asks for what the service does
// not do: an extension marked critical (RFC 7515 §4.1.11 requires refusing
// one the recipient does not understand, and this service understands
// none), or a typ that says the token is meant for something else, such
// as a logout token.
func (s *JWT) checkHeader(h map[string]any) error {
	if _, ok := h["crit"]; ok {
		return errors.New("the token header has crit, and no critical extension is supported")
	}
	v, ok := h["typ"]
	if !ok {
		return nil
	}
	typ, _ := v.(string)
	if t, err := jsondoc.JWTType(typ); err != nil || !s.types[t] {
		// The value is the client's: quoted, and cut short for the log.
		return fmt.Errorf("typ %.40q is not an accepted type (CHATTOKEN_JWT_TYPES)", typ)
	}
	return nil
}

func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// discoverJWKS reads jwks_uri from the issuer's OpenID configuration.
func discoverJWKS(ctx context.Context, client *http.Client, issuer string) (string, error) {
	u := strings.TrimSuffix(issuer, "/") + discoveryDocumentPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("discovering the identity provider's keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("discovering the identity provider's keys: %s answered %d", u, resp.StatusCode)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&doc); err != nil || doc.JWKSURI == "" {
		return "", errors.New("discovering the identity provider's keys: the OpenID configuration has no jwks_uri")
	}
	if doc.Issuer != issuer {
		// OpenID Connect Discovery §4.3: the issuer must match exactly.
		return "", fmt.Errorf("discovering the identity provider's keys: the OpenID configuration names issuer %q, not %q", doc.Issuer, issuer)
	}
	return doc.JWKSURI, nil
}
