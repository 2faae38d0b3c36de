// Package doctor checks a live chattoken deployment from outside, the way
// Microsoft's servers and the chat widget reach it: the public key URL,
// client.js, CORS, /token without credentials and, given a signed-in
// visitor's credentials, the token itself. Each check is one line; a failure
// says how to fix it and which error the widget reports because of it.
package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/chattoken/chattoken/internal/inspect"
)

// Omnichannel's limits and the doctor's tolerances.
const (
	maxKeyURLLength = 256
	minRSABits      = 2048
	expiryWarning   = 7 * 24 * time.Hour
	maxClockSkew    = 30 * time.Second
	// expires_in and exp are both whole seconds, taken a moment apart.
	expiresInSlack = 2
	maxBody        = 1 << 20
	// ClientFunction is what the admin enters as the JavaScript client
	// function: the provider client.js defines.
	ClientFunction = "chattoken.authTokenProvider"
	// otherOrigin stands for any site that is not the shop's: .invalid
	// names no real host (RFC 2606).
	otherOrigin = "https://chattoken-doctor.invalid"
)

// Status is the outcome of one check.
type Status string

// Outcomes. Only Fail makes the report fail.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Check is the outcome of one check. Fix says what to change and Widget the
// error the widget reports because of a failure (0 when it reports none).
type Check struct {
	Name   string              `json:"name"`
	Status Status              `json:"status"`
	Detail string              `json:"detail"`
	Fix    string              `json:"fix,omitempty"`
	Widget inspect.WidgetError `json:"widget_error,omitempty"`
}

// Settings are what to enter in Omnichannel's chat authentication settings.
type Settings struct {
	PublicKeyURL   string `json:"public_key_url"`
	ClientFunction string `json:"client_function"`
}

// Report is the doctor's whole answer.
type Report struct {
	BaseURL  string   `json:"base_url"`
	OK       bool     `json:"ok"`
	Checks   []Check  `json:"checks"`
	Settings Settings `json:"settings"`
}

// Options say which deployment to check and as whom.
type Options struct {
	// BaseURL is where chattoken is served, such as
	// https://shop.example/chat-auth: /publickey, /client.js and /token
	// lie beneath it.
	BaseURL string
	// Cookie is the Cookie header of a signed-in visitor, Bearer an access
	// token for jwt mode; either makes the doctor ask for a token. They are
	// sent to /token only.
	Cookie, Bearer string
	// Origin is the page's origin, when it differs from the service's.
	Origin string
	// CAFile is a PEM file of certificate authorities to trust besides the
	// system's, for a deployment behind a private CA.
	CAFile string
	// Client, when set, is used instead of NewClient's: it must not follow
	// redirects nor keep cookies.
	Client *http.Client
}

// NewClient is the HTTP client of the doctor: it never follows a redirect
// (Microsoft's servers do not), keeps no cookies, and trusts the system's
// certificate authorities plus those in caPEM (a private CA in front of a
// test deployment).
func NewClient(caPEM []byte) (*http.Client, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if len(caPEM) > 0 && !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no PEM certificate in the CA file")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{
		Transport:     transport,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// clientFor is NewClient trusting the authorities in caFile, if any.
func clientFor(caFile string) (*http.Client, error) {
	var caPEM []byte
	if caFile != "" {
		var err error
		if caPEM, err = os.ReadFile(caFile); err != nil {
			return nil, err
		}
	}
	return NewClient(caPEM)
}

// Run checks the deployment. The error is a mistake in the options; what
// the deployment gets wrong is in the report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	base, err := parseBaseURL(opts.BaseURL)
	if err != nil {
		return nil, err
	}
	origin := ""
	if opts.Origin != "" {
		if origin, err = parseOrigin(opts.Origin); err != nil {
			return nil, err
		}
	}
	if opts.Client == nil {
		if opts.Client, err = clientFor(opts.CAFile); err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
	}
	d := &doctor{opts: opts, base: base, origin: origin, credentials: http.Header{}}
	if opts.Cookie != "" {
		d.credentials.Set("Cookie", opts.Cookie)
	}
	if opts.Bearer != "" {
		d.credentials.Set("Authorization", "Bearer "+opts.Bearer)
	}
	d.report.BaseURL = base.String()
	d.report.Settings = Settings{PublicKeyURL: d.url("/publickey"), ClientFunction: ClientFunction}

	d.checkKeyURL()
	src := d.checkKey(ctx)
	d.checkClientJS(ctx)
	d.checkTokenEndpoint(ctx, src)

	d.report.OK = true
	for _, c := range d.report.Checks {
		if c.Status == Fail {
			d.report.OK = false
		}
	}
	return &d.report, nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, errors.New("BASE_URL must be an http or https URL, such as https://shop.example/chat-auth")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(raw, "?"):
		return nil, errors.New("BASE_URL must have no user info, query or fragment")
	}
	return u, nil
}

func parseOrigin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("--origin must be an origin: scheme, host and optional port, such as https://shop.example")
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// doctor is one run's state.
type doctor struct {
	opts        Options
	base        *url.URL
	origin      string
	credentials http.Header
	report      Report
}

func (d *doctor) url(path string) string { return d.base.String() + path }

func (d *doctor) add(c Check) { d.report.Checks = append(d.report.Checks, c) }

// answer is one response, read whole, with the local time it arrived.
type answer struct {
	status int
	header http.Header
	body   []byte
	at     time.Time
}

// problem is the part of a problem+json body the doctor reports.
type problem struct {
	Code      string `json:"code"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
}

func (a *answer) problem() problem {
	var p problem
	_ = json.Unmarshal(a.body, &p)
	return p
}

// describe names an answer's status and, for a chattoken error, its code.
func (a *answer) describe() string {
	s := fmt.Sprintf("%d", a.status)
	if p := a.problem(); p.Code != "" {
		s += " " + p.Code
	}
	if loc := a.header.Get("Location"); loc != "" {
		s += ", a redirect to " + withoutQuery(loc)
	}
	return s
}

// withoutQuery drops what may hold a secret from a URL shown to the admin:
// user info, query and fragment.
func withoutQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "an unreadable URL"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

func (d *doctor) do(ctx context.Context, method, path string, header http.Header) (*answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, d.url(path), nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return nil, unreachable(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, unreachable(err)
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: body, at: time.Now()}, nil
}

// unreachable words a transport error, adding what to do about a
// certificate this machine does not trust.
func unreachable(err error) error {
	var unknown x509.UnknownAuthorityError
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	if errors.As(err, &unknown) {
		return errors.New("its certificate is not signed by a trusted authority (Microsoft's servers trust public CAs only; for a test CA, give --cacert)")
	}
	return fmt.Errorf("unreachable: %v", err)
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
