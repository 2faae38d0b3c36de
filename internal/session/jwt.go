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
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// JWTOptions configure a JWT session source.
type JWTOptions struct {
	// JWKSURL is where the identity provider's keys are; when empty they
	// are discovered from Issuer's /.well-known/openid-configuration.
	JWKSURL string
	// Issuer, when set, must equal the token's iss.
	Issuer string
	// Audience, when set, must be among the token's aud.
	Audience string
	// Algorithms pins what a token may be signed with (asymmetric only).
	Algorithms []string
	// Leeway is allowed on exp and nbf.
	Leeway time.Duration
	// Cookie, when set, is a cookie that may carry the token instead of an
	// Authorization: Bearer header.
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
	cookie  string
	jwksURL string
	// refetch downloads the JWKS again into the storage keys reads from;
	// limiter allows it at most every jwksUnknownKIDEvery, and group makes
	// concurrent requests share one download.
	refetch func(context.Context) error
	limiter *rate.Limiter
	group   singleflight.Group
}

var _ Source = (*JWT)(nil)

// Key fetching: a background refresh, and a refresh when a token names an
// unknown kid (the provider rotated its keys), at most once per interval.
// A request never waits for the limiter: past it, an unknown kid is refused
// at once; only the request that triggers a download waits for it.
const (
	jwksRefreshEvery      = 15 * time.Minute
	jwksUnknownKIDEvery   = 5 * time.Second
	jwksHTTPTimeout       = 5 * time.Second
	discoveryDocumentPath = "/.well-known/openid-configuration"
)

// NewJWT fetches (or discovers, then fetches) the provider's keys and keeps
// them fresh until ctx ends.
func NewJWT(ctx context.Context, opt JWTOptions) (*JWT, error) {
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
	refetch := func(ctx context.Context) error {
		_, err := jwkset.NewStorageFromHTTP(jwksURL, options(ctx, 0))
		return err
	}
	parserOptions := []jwt.ParserOption{
		jwt.WithValidMethods(opt.Algorithms),
		jwt.WithLeeway(opt.Leeway),
		jwt.WithExpirationRequired(),
		// Numbers stay exact, as in every other session document.
		jwt.WithJSONNumber(),
	}
	if opt.Issuer != "" {
		parserOptions = append(parserOptions, jwt.WithIssuer(opt.Issuer))
	}
	if opt.Audience != "" {
		parserOptions = append(parserOptions, jwt.WithAudience(opt.Audience))
	}
	return &JWT{
		keys: kf, parser: jwt.NewParser(parserOptions...), cookie: opt.Cookie, jwksURL: jwksURL,
		refetch: refetch, limiter: rate.NewLimiter(rate.Every(jwksUnknownKIDEvery), 1),
	}, nil
}

// JWKSURL is where the keys are fetched from (after discovery).
func (s *JWT) JWKSURL() string { return s.jwksURL }

// Lookup implements Source.
func (s *JWT) Lookup(ctx context.Context, r *http.Request) (Document, error) {
	raw := bearerToken(r)
	if raw == "" && s.cookie != "" {
		if c, err := r.Cookie(s.cookie); err == nil {
			raw = c.Value
		}
	}
	if raw == "" {
		return nil, fmt.Errorf("%w: no bearer token", ErrUnauthenticated)
	}
	claims := jwt.MapClaims{}
	_, err := s.parser.ParseWithClaims(raw, claims, s.keys.KeyfuncCtx(ctx))
	if errors.Is(err, jwkset.ErrKeyNotFound) && s.limiter.Allow() {
		// The provider may have rotated its keys: download them again, on
		// a deadline of its own, and try once more.
		_, ferr, _ := s.group.Do("refetch", func() (any, error) {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksHTTPTimeout)
			defer cancel()
			return nil, s.refetch(fctx)
		})
		if ferr == nil {
			claims = jwt.MapClaims{}
			_, err = s.parser.ParseWithClaims(raw, claims, s.keys.KeyfuncCtx(ctx))
		}
	}
	if err != nil {
		// The reason (expired, wrong audience, bad signature...) goes to the
		// log; the token itself never does.
		return nil, fmt.Errorf("%w: bearer token refused: %v", ErrUnauthenticated, err)
	}
	return Document(claims), nil
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
