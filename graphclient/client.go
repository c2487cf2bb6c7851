package graphclient

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	kauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/cacheck/ca-check/diagnose"
)

// Client reads customer tenants (and the partner tenant) through Microsoft
// Graph with app-only tokens. It keeps one credential and one Graph request
// adapter per tenant, for the 1,024 tenants used most recently that gave it
// a token; tokens are cached by azidentity. A Client is safe for concurrent
// use.
type Client struct {
	cfg       Config
	cloud     cloud
	graphBase string // Graph base URL with version
	authority string // Entra authority host
	scope     string
	timeout   time.Duration
	retries   int
	retry     *retrier // the Graph pipeline's retry middleware
	// readBack is the first wait before reading a written policy again
	// when the read-back does not show the write yet.
	readBackWait time.Duration
	now          func() time.Time
	log          *slog.Logger

	httpClient *http.Client // for azidentity
	graphHTTP  *http.Client // the kiota middleware pipeline over httpClient's transport

	// Parsed once: the certificate, or the managed identity.
	certs []*x509.Certificate
	key   crypto.PrivateKey
	mi    azcore.TokenCredential

	// conns are the tenants' connections, by tenant ID or domain, lower
	// case: only tenants that gave a token, at most defaultMaxConns.
	conns *connCache

	// gdapIDs are the IDs of each customer's active GDAP relationships as
	// last read (by tenant ID or domain, lower case): a diagnosis reads
	// their access assignments in its first wave, alongside the list
	// that confirms them, rather than in a second round after it.
	gdapMu  sync.Mutex
	gdapIDs map[string][]string

	partnerOrg orgName // the partner organization's display name (PartnerName)
}

// conn is one tenant's credential and Graph client.
type conn struct {
	tenant  string // as asked for: GUID or domain
	cred    *tenantCredential
	adapter abs.RequestAdapter
	graph   *msgraphsdk.GraphServiceClient
}

// Option configures New.
type Option func(*Client)

// WithHTTPClient sets the HTTP client under both azidentity and Graph (its
// Transport; Graph's middleware wraps it). Tests pass graphtest's client.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.httpClient = hc } }

// WithClock sets the clock (sign-in log windows, GDAP expiry).
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithLogger sets the logger of Graph calls (method, path, status, request
// ID, duration; never headers or bodies).
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// New returns a Client for cfg. It validates cfg and reads the certificate
// or sets up the managed identity, but makes no request.
func New(cfg Config, opts ...Option) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cl, _ := cloudOf(cfg.Cloud)
	c := &Client{
		cfg:          cfg,
		cloud:        cl,
		graphBase:    cl.graph + "/v1.0",
		authority:    cl.login,
		scope:        cl.graph + "/.default",
		timeout:      cfg.GraphTimeout,
		retries:      cfg.MaxRetries,
		now:          time.Now,
		log:          slog.New(slog.DiscardHandler),
		conns:        newConnCache(defaultMaxConns),
		readBackWait: time.Second,
		gdapIDs:      map[string][]string{},
	}
	if c.timeout == 0 {
		c.timeout = 20 * time.Second
	}
	if cfg.SignInLookback == 0 {
		c.cfg.SignInLookback = 24 * time.Hour
	}
	if cfg.GraphURL != "" {
		c.graphBase = strings.TrimRight(cfg.GraphURL, "/")
	}
	if cfg.AuthorityHost != "" {
		c.authority = strings.TrimRight(cfg.AuthorityHost, "/") + "/"
	}
	for _, o := range opts {
		o(c)
	}
	if c.httpClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// A diagnosis sends about seven requests at once; the default of two
		// idle connections per host would redo TLS handshakes every wave
		// where HTTP/2 is not negotiated.
		t.MaxIdleConnsPerHost = 16
		c.httpClient = &http.Client{Transport: t}
	}
	base := c.httpClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.retry = &retrier{max: c.retries, base: defaultRetryBase}
	mw := core.GetDefaultMiddlewaresWithOptions(new(msgraphsdk.GetDefaultClientOptions()))
	// Ours replaces kiota's RetryHandler, in its place: outside compression
	// (which leaves a seekable body to resend) and the logger (which logs
	// every attempt).
	if i := slices.IndexFunc(mw, func(m khttp.Middleware) bool { _, ok := m.(*khttp.RetryHandler); return ok }); i >= 0 {
		mw[i] = c.retry
	} else {
		mw = append([]khttp.Middleware{c.retry}, mw...)
	}
	mw = append(mw, logMiddleware{c.log})
	c.graphHTTP = &http.Client{
		Transport:     khttp.NewCustomTransportWithParentTransport(base, mw...),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	switch {
	case cfg.ClientCertificatePath != "":
		data, err := os.ReadFile(cfg.ClientCertificatePath)
		if err != nil {
			return nil, diagnose.Errorf(diagnose.EINVALID, "CACHECK_CLIENT_CERTIFICATE_PATH: cannot read the certificate file: %w", err)
		}
		var pw []byte
		if cfg.ClientCertificatePassword != "" {
			pw = []byte(cfg.ClientCertificatePassword)
		}
		c.certs, c.key, err = azidentity.ParseCertificates(data, pw)
		if err != nil {
			// The parser's message never contains the password.
			return nil, diagnose.Errorf(diagnose.EINVALID, "CACHECK_CLIENT_CERTIFICATE_PATH: not a usable certificate with private key (PEM or PFX; is CACHECK_CLIENT_CERTIFICATE_PASSWORD right?): %w", err)
		}
	case cfg.ManagedIdentityClientID != "":
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: c.httpClient}}
		if cfg.ManagedIdentityClientID != "system" {
			o.ID = azidentity.ClientID(cfg.ManagedIdentityClientID)
		}
		mi, err := azidentity.NewManagedIdentityCredential(o)
		if err != nil {
			return nil, diagnose.Errorf(diagnose.EINVALID, "CACHECK_MANAGED_IDENTITY_CLIENT_ID: %w", err)
		}
		c.mi = mi
	}
	return c, nil
}

// PartnerTenantID is the configured partner tenant.
func (c *Client) PartnerTenantID() string { return strings.ToLower(c.cfg.PartnerTenantID) }

// AdminConsentURL is the admin consent page of the app for tenantID, in this
// client's cloud (or custom authority).
func (c *Client) AdminConsentURL(tenantID string) string {
	return adminConsentURL(c.authority, tenantID, c.cfg.ClientID)
}

// conn returns the tenant's credential and Graph client, creating them on
// first use. tenant is a tenant ID or a verified domain: Entra accepts
// either in the authority, and the token's tid tells the ID.
//
// A new connection is kept for the next use only once its credential gets a
// token: anyone can type a tenant string at the bot, and one that names no
// tenant, or a tenant that has not consented, must not stay in memory.
// Until then concurrent first uses of a tenant may each build their own.
func (c *Client) conn(tenant string) (*conn, error) {
	key := strings.ToLower(strings.TrimSpace(tenant))
	if key == "" {
		return nil, diagnose.Errorf(diagnose.EINVALID, "no tenant given")
	}
	if cn, ok := c.conns.get(key); ok {
		return cn, nil
	}
	tc := &tenantCredential{sem: make(chan struct{}, 1), host: hostOf(c.authority)}
	cred, err := c.credential(key, tc)
	if err != nil {
		if _, ok := errors.AsType[*diagnose.Error](err); ok {
			return nil, err
		}
		// azidentity refuses a tenant that cannot be an authority path
		// segment ("invalid tenantID"): the user's input, not a bug.
		return nil, &diagnose.Error{Code: diagnose.EINVALID, Err: err,
			Message: fmt.Sprintf("%q is not a tenant ID or a verified domain: give the tenant ID (GUID), a verified domain such as contoso.com, or the customer's name as in the GDAP relationship", strings.TrimSpace(tenant))}
	}
	tc.inner = cred
	host := c.graphBase
	if u, err := url.Parse(c.graphBase); err == nil {
		host = u.Hostname()
	}
	auth, err := kauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(tc, []string{c.scope}, []string{host})
	if err != nil {
		return nil, fmt.Errorf("graphclient: auth provider: %w", err)
	}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, c.graphHTTP)
	if err != nil {
		return nil, fmt.Errorf("graphclient: request adapter: %w", err)
	}
	adapter.SetBaseUrl(c.graphBase)
	cn := &conn{tenant: key, cred: tc, adapter: adapter, graph: msgraphsdk.NewGraphServiceClient(adapter)}
	tc.onToken = func() { c.conns.add(key, cn) }
	return cn, nil
}

// alias registers cn under the tenant ID its token named, so that a tenant
// first reached by domain is not given a second credential. The ID comes
// from a token, so the tenant exists.
func (c *Client) alias(cn *conn, tenantID string) {
	if tenantID == "" {
		return
	}
	c.conns.add(strings.ToLower(tenantID), cn)
}

// credential builds the azidentity credential for one tenant; tc learns
// of its token requests' transport errors.
func (c *Client) credential(tenant string, tc *tenantCredential) (azcore.TokenCredential, error) {
	co := azcore.ClientOptions{Transport: &tokenTransport{next: c.httpClient, cred: tc},
		Cloud: azcloud.Configuration{ActiveDirectoryAuthorityHost: c.authority}}
	// Token requests are retried by azcore, as often as Graph calls.
	co.Retry = policy.RetryOptions{MaxRetries: int32(c.retries), RetryDelay: max(c.retry.base, time.Millisecond)}
	if c.retries == 0 {
		co.Retry.MaxRetries = -1
	}
	// Instance discovery validates Microsoft's own hosts; a custom
	// authority (a test fake, a private cloud) has none to validate against.
	noDiscovery := c.cfg.AuthorityHost != ""
	cfg := c.cfg
	switch {
	case cfg.ClientSecret != "":
		return azidentity.NewClientSecretCredential(tenant, cfg.ClientID, cfg.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: noDiscovery})
	case c.certs != nil:
		return azidentity.NewClientCertificateCredential(tenant, cfg.ClientID, c.certs, c.key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: noDiscovery, SendCertificateChain: true})
	case cfg.FederatedTokenFile != "":
		path := cfg.FederatedTokenFile
		// Re-read every time: the platform rotates the file.
		return azidentity.NewClientAssertionCredential(tenant, cfg.ClientID, func(context.Context) (string, error) {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", fmt.Errorf("CACHECK_FEDERATED_TOKEN_FILE: %w", err)
			}
			return strings.TrimSpace(string(b)), nil
		}, &azidentity.ClientAssertionCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: noDiscovery})
	case c.mi != nil && cfg.ClientID != "":
		mi, audience := c.mi, c.cloud.fic+"/.default"
		return azidentity.NewClientAssertionCredential(tenant, cfg.ClientID, func(ctx context.Context) (string, error) {
			tok, err := mi.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{audience}})
			return tok.Token, err
		}, &azidentity.ClientAssertionCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: noDiscovery})
	case c.mi != nil:
		if !strings.EqualFold(tenant, c.cfg.PartnerTenantID) {
			return nil, diagnose.Errorf(diagnose.EINVALID, "a managed identity alone can read only the partner tenant, not %s: set CACHECK_CLIENT_ID to the multi-tenant app and add the managed identity as its federated credential", tenant)
		}
		return c.mi, nil
	}
	return nil, diagnose.Errorf(diagnose.EINVALID, "configuration: no credential configured")
}

// tenantCredential wraps a tenant's credential: it lets one cold token
// request go out at a time (the parallel wave would otherwise ask for the
// same token once per read), and remembers the token's tenant ID.
type tenantCredential struct {
	inner azcore.TokenCredential
	sem   chan struct{}
	host  string // of the authority, for messages
	// onToken, called after the first token obtained, keeps the
	// connection (see Client.conn).
	onToken   func()
	tokenOnce sync.Once

	mu  sync.Mutex
	tid string
	// lastNet is why the last token request sent got no answer, nil when
	// it got one. It is kept until one does: MSAL may fail a token request
	// again without sending it.
	lastNet *NetworkError
}

func (t *tenantCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		// Waiting for another read's token request, which did not end.
		return azcore.AccessToken{}, t.timeout(ctx, nil)
	}
	tok, err := t.inner.GetToken(ctx, opts)
	<-t.sem
	if err != nil {
		// azidentity flattens these into an AuthenticationFailedError, which
		// would read as Entra refusing the app (no consent).
		if ctx.Err() != nil {
			return tok, t.timeout(ctx, err)
		}
		t.mu.Lock()
		ne := t.lastNet
		t.mu.Unlock()
		if ne != nil {
			return tok, ne
		}
	}
	if err == nil {
		if tid := tokenTenantID(tok.Token); tid != "" {
			t.mu.Lock()
			t.tid = tid
			t.mu.Unlock()
		}
		if t.onToken != nil {
			t.tokenOnce.Do(t.onToken)
		}
	}
	return tok, err
}

// timeout is the error of a token request cut short by ctx: a deadline
// is Entra's not answering in time, said apart from Graph's own timeouts.
func (t *tenantCredential) timeout(ctx context.Context, err error) error {
	cause := ctx.Err()
	if err != nil {
		cause = fmt.Errorf("%w (token request: %w)", cause, err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &NetworkError{Host: t.host, Service: "Entra ID", Err: cause}
	}
	return cause
}

func (t *tenantCredential) noteNet(ne *NetworkError) {
	t.mu.Lock()
	t.lastNet = ne
	t.mu.Unlock()
}

// tokenTransport is the transport of a tenant's token requests: it tells
// the tenantCredential whether the last one got an answer at all.
type tokenTransport struct {
	next *http.Client
	cred *tenantCredential
}

func (t *tokenTransport) Do(req *http.Request) (*http.Response, error) {
	res, err := t.next.Do(req)
	switch {
	case err == nil:
		t.cred.noteNet(nil)
	case req.Context().Err() == nil:
		t.cred.noteNet(&NetworkError{Host: req.URL.Host, Service: "Entra ID", Err: err})
	}
	return res, err
}

// TenantID is the tid of the last token issued, or "".
func (t *tenantCredential) TenantID() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tid
}

// tokenTenantID reads the tid claim of a JWT access token. The token is not
// verified: it only tells which tenant a verified domain belongs to, and
// Entra issued it to us over TLS.
func tokenTenantID(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		TID string `json:"tid"`
	}
	if json.Unmarshal(payload, &claims) != nil || !IsGUID(claims.TID) {
		return ""
	}
	return strings.ToLower(claims.TID)
}

// The Prefer header that asks Graph for evolvable enum members as they are.
const (
	preferHeader       = "Prefer"
	preferUnknownEnums = "include-unknown-enum-members"
)

// errorMapping makes the adapter parse every 4xx/5xx body as an ODataError.
var errorMapping = abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// response is a raw Graph response.
type response struct {
	body      []byte
	requestID string // request-id, or client-request-id when Graph sent none
}

// send runs one request through the Graph SDK's request adapter (auth,
// retry, compression, telemetry) within the per-call deadline and returns
// the raw body: decoding is left to diagnose, which keeps enum values Graph
// adds tomorrow (see doc.go).
func (c *Client) send(ctx context.Context, cn *conn, ri *abs.RequestInformation) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// Without it Graph sends every member of an evolvable enum added after
	// unknownFutureValue as unknownFutureValue: a policy for linux reads as
	// one for no known platform, and a sign-in's reportOnlyFailure is hidden.
	// Sent on every request (PATCH too), so nothing read is ever misread.
	ri.Headers.TryAdd(preferHeader, preferUnknownEnums)
	hdr := khttp.NewHeadersInspectionOptions()
	hdr.InspectResponseHeaders = true
	ri.AddRequestOptions([]abs.RequestOption{hdr})
	res, err := cn.adapter.SendPrimitive(ctx, ri, "[]byte", errorMapping)
	var out response
	rh := hdr.GetResponseHeaders()
	for _, h := range []string{"request-id", "client-request-id"} {
		if v := rh.Get(h); len(v) > 0 && out.requestID == "" {
			out.requestID = v[0]
		}
	}
	if err != nil {
		return out, err
	}
	out.body, _ = res.([]byte)
	return out, nil
}

// get builds a GET for a Graph URL (an @odata.nextLink).
func getURL(raw string) (*abs.RequestInformation, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	ri := abs.NewRequestInformation()
	ri.Method = abs.GET
	ri.SetUri(*u)
	ri.Headers.TryAdd("Accept", "application/json")
	return ri, nil
}

// maxPages bounds a list read, against a server that pages forever.
const maxPages = 200

// list reads every page of a collection, following @odata.nextLink.
func (c *Client) list(ctx context.Context, cn *conn, first *abs.RequestInformation) ([]json.RawMessage, error) {
	var items []json.RawMessage
	ri := first
	for range maxPages {
		res, err := c.send(ctx, cn, ri)
		if err != nil {
			return nil, err
		}
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(res.body, &page); err != nil {
			return nil, fmt.Errorf("graphclient: malformed list page: %w", err)
		}
		items = append(items, page.Value...)
		if page.NextLink == "" {
			return items, nil
		}
		// The next request keeps the first one's headers (Prefer, ...).
		next, err := getURL(page.NextLink)
		if err != nil {
			return nil, fmt.Errorf("graphclient: malformed @odata.nextLink: %w", err)
		}
		next.Headers.AddAll(first.Headers)
		ri = next
	}
	return nil, fmt.Errorf("graphclient: more than %d pages", maxPages)
}

// jsonArray joins raw items into one JSON array for diagnose's decoders.
func jsonArray(items []json.RawMessage) []byte {
	b, _ := json.Marshal(items)
	return b
}

// logMiddleware logs each Graph call. It sees the request after
// authentication, so it must never log headers.
type logMiddleware struct{ log *slog.Logger }

func (m logMiddleware) Intercept(p khttp.Pipeline, i int, req *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := p.Next(req, i)
	attrs := []any{"method", req.Method, "path", req.URL.Path, "duration", time.Since(start)}
	if err != nil {
		m.log.DebugContext(req.Context(), "graph call failed", append(attrs, "error", err)...)
		return res, err
	}
	attrs = append(attrs, "status", res.StatusCode, "request_id", res.Header.Get("request-id"))
	if res.StatusCode >= 400 {
		m.log.InfoContext(req.Context(), "graph call", attrs...)
	} else {
		m.log.DebugContext(req.Context(), "graph call", attrs...)
	}
	return res, nil
}
