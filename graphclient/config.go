package graphclient

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/cacheck/ca-check/diagnose"
)

// Config is graphclient's configuration. The caller fills it from the
// environment by its struct tags, so each envconfig tag is a variable name
// without the CACHECK_ prefix. Exactly one credential kind is configured: a client
// secret, a client certificate, a federated token file, or a managed identity.
type Config struct {
	PartnerTenantID string `envconfig:"PARTNER_TENANT_ID" desc:"Required. The partner's own Entra tenant ID (GUID), where the app is registered and GDAP relationships live."`
	ClientID        string `envconfig:"CLIENT_ID" desc:"Application (client) ID of ca-check's multi-tenant app registration. Required unless a managed identity alone reads the partner tenant."`

	ClientSecret              string `envconfig:"CLIENT_SECRET" desc:"Client secret of the app. Prefer a certificate or federation in production."`
	ClientCertificatePath     string `envconfig:"CLIENT_CERTIFICATE_PATH" desc:"Path to the app's client certificate with its private key: PEM, or PFX/PKCS#12."`
	ClientCertificatePassword string `envconfig:"CLIENT_CERTIFICATE_PASSWORD" desc:"Password of the certificate's private key or PFX file, if any."`
	FederatedTokenFile        string `envconfig:"FEDERATED_TOKEN_FILE" desc:"Path to a federated identity token (Kubernetes workload identity, GitHub OIDC...), re-read for every token: the app signs in with it as a client assertion (workload identity federation)."`
	ManagedIdentityClientID   string `envconfig:"MANAGED_IDENTITY_CLIENT_ID" desc:"Client ID of a user-assigned managed identity, or \"system\" for the system-assigned one. With CLIENT_ID: the identity's token is the federated credential of the app (works in every customer tenant). Without CLIENT_ID: the identity itself reads the partner tenant only."`

	Cloud          string        `envconfig:"CLOUD" default:"public" desc:"Microsoft cloud: public, usgov or usgovhigh (GCC High), dod, china. GCC (moderate) tenants are in public."`
	GraphURL       string        `envconfig:"GRAPH_URL" desc:"Override of the Graph base URL including the version, e.g. https://host:port/v1.0 (tests, proxies)."`
	AuthorityHost  string        `envconfig:"AUTHORITY_HOST" desc:"Override of the Entra authority host, e.g. https://host:port/ (instance discovery is then off)."`
	GraphTimeout   time.Duration `envconfig:"GRAPH_TIMEOUT" default:"20s" desc:"Deadline of one Graph call, retries included."`
	MaxRetries     int           `envconfig:"GRAPH_MAX_RETRIES" default:"3" desc:"Retries of a Graph call that was throttled (429) or found Graph unavailable (503), and of a read that failed (500, 502, 504, connection error, timeout), honouring Retry-After within GRAPH_TIMEOUT; 0 disables them."`
	SignInLookback time.Duration `envconfig:"SIGNIN_LOOKBACK" default:"24h" desc:"Without a correlation ID, how far back to look for the partner's failed sign-ins."`
	AllTenantsFix  bool          `envconfig:"ALL_TENANTS_FIX" default:"false" desc:"For a policy with no guest or external user exclusion yet, exclude service provider users of every tenant instead of the partner's alone. Off by default (least privilege); a plan that does so is refused at write time unless this is set."`
}

// String shows the configuration with its secrets redacted, so that a
// logged or printed Config never leaks them.
func (c Config) String() string {
	r := c
	for _, p := range []*string{&r.ClientSecret, &r.ClientCertificatePassword} {
		if *p != "" {
			*p = "REDACTED"
		}
	}
	type plain Config // no String method: no recursion
	return fmt.Sprintf("%+v", plain(r))
}

// LogValue is String for log/slog.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// cloud holds a Microsoft cloud's endpoints.
type cloud struct {
	graph  string // Graph origin
	login  string // Entra authority host, with trailing slash
	fic    string // audience of a managed identity token used as a federated credential
	portal string // Entra admin center
}

var clouds = map[string]cloud{
	"public":    {"https://graph.microsoft.com", "https://login.microsoftonline.com/", "api://AzureADTokenExchange", "https://entra.microsoft.com"},
	"usgov":     {"https://graph.microsoft.us", "https://login.microsoftonline.us/", "api://AzureADTokenExchangeUSGov", "https://entra.microsoft.us"},
	"usgovhigh": {"https://graph.microsoft.us", "https://login.microsoftonline.us/", "api://AzureADTokenExchangeUSGov", "https://entra.microsoft.us"},
	"dod":       {"https://dod-graph.microsoft.us", "https://login.microsoftonline.us/", "api://AzureADTokenExchangeUSGov", "https://entra.microsoft.us"},
	"china":     {"https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn/", "api://AzureADTokenExchangeChina", "https://entra.microsoftonline.cn"},
}

func cloudOf(name string) (cloud, bool) {
	if name == "" {
		name = "public"
	}
	c, ok := clouds[strings.ToLower(strings.TrimSpace(name))]
	return c, ok
}

// IsGUID reports whether s is a GUID such as a tenant ID.
func IsGUID(s string) bool { return diagnose.IsGUID(strings.TrimSpace(s)) }

// Validate reports every missing or malformed variable at once. It never
// quotes a secret.
func (c Config) Validate() error {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	switch {
	case c.PartnerTenantID == "":
		add("CACHECK_PARTNER_TENANT_ID is required (the partner tenant's GUID)")
	case !IsGUID(c.PartnerTenantID):
		add("CACHECK_PARTNER_TENANT_ID must be a tenant GUID, not %q", c.PartnerTenantID)
	}
	if c.ClientID != "" && !IsGUID(c.ClientID) {
		add("CACHECK_CLIENT_ID must be an application (client) ID GUID, not %q", c.ClientID)
	}
	var kinds []string
	for _, k := range []struct{ name, v string }{
		{"CACHECK_CLIENT_SECRET", c.ClientSecret},
		{"CACHECK_CLIENT_CERTIFICATE_PATH", c.ClientCertificatePath},
		{"CACHECK_FEDERATED_TOKEN_FILE", c.FederatedTokenFile},
		{"CACHECK_MANAGED_IDENTITY_CLIENT_ID", c.ManagedIdentityClientID},
	} {
		if k.v != "" {
			kinds = append(kinds, k.name)
		}
	}
	switch {
	case len(kinds) == 0:
		add("a credential is required: set one of CACHECK_CLIENT_SECRET, CACHECK_CLIENT_CERTIFICATE_PATH, CACHECK_FEDERATED_TOKEN_FILE or CACHECK_MANAGED_IDENTITY_CLIENT_ID")
	case len(kinds) > 1:
		add("set only one credential, not %s", strings.Join(kinds, " and "))
	}
	if c.ClientID == "" && (len(kinds) != 1 || c.ManagedIdentityClientID == "") {
		add("CACHECK_CLIENT_ID is required (the app registration's application ID)")
	}
	if c.ClientCertificatePassword != "" && c.ClientCertificatePath == "" {
		add("CACHECK_CLIENT_CERTIFICATE_PASSWORD is set without CACHECK_CLIENT_CERTIFICATE_PATH")
	}
	if m := c.ManagedIdentityClientID; m != "" && m != "system" && !IsGUID(m) {
		add("CACHECK_MANAGED_IDENTITY_CLIENT_ID must be a client ID GUID or \"system\", not %q", m)
	}
	if _, ok := cloudOf(c.Cloud); !ok {
		add("CACHECK_CLOUD must be one of public, usgov, usgovhigh, dod, china, not %q", c.Cloud)
	}
	if c.GraphURL != "" {
		if err := checkURL(c.GraphURL, true); err != nil {
			add("CACHECK_GRAPH_URL %v", err)
		}
	}
	if c.AuthorityHost != "" {
		if err := checkURL(c.AuthorityHost, false); err != nil {
			add("CACHECK_AUTHORITY_HOST %v", err)
		}
	}
	if c.GraphTimeout < 0 {
		add("CACHECK_GRAPH_TIMEOUT must be positive, not %s", c.GraphTimeout)
	}
	if c.MaxRetries < 0 || c.MaxRetries > 10 {
		add("CACHECK_GRAPH_MAX_RETRIES must be between 0 and 10, not %d", c.MaxRetries)
	}
	if c.SignInLookback < 0 {
		add("CACHECK_SIGNIN_LOOKBACK must be positive, not %s", c.SignInLookback)
	}
	if len(probs) > 0 {
		return diagnose.Errorf(diagnose.EINVALID, "configuration: %s", strings.Join(probs, "; "))
	}
	return nil
}

func checkURL(s string, needPath bool) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("is not a URL: %q", s)
	case u.Scheme != "https":
		return fmt.Errorf("must be an https URL, not %q", s)
	case u.Host == "":
		return fmt.Errorf("has no host: %q", s)
	case needPath && strings.Trim(u.Path, "/") == "":
		return fmt.Errorf("must include the API version, e.g. %s/v1.0", strings.TrimRight(s, "/"))
	}
	return nil
}

// AdminConsentURL is the page where an administrator of tenantID grants
// the app its permissions in that tenant (cloud as in Config.Cloud).
func AdminConsentURL(cloudName, tenantID, clientID string) string {
	c, ok := cloudOf(cloudName)
	if !ok {
		c = clouds["public"]
	}
	return adminConsentURL(c.login, tenantID, clientID)
}

func adminConsentURL(loginHost, tenantID, clientID string) string {
	if tenantID == "" {
		tenantID = "organizations"
	}
	return strings.TrimRight(loginHost, "/") + "/" + url.PathEscape(tenantID) + "/adminconsent?client_id=" + url.QueryEscape(clientID)
}
