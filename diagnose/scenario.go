package diagnose

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Client app types (conditionalAccessClientApp).
const (
	ClientBrowser         = "browser"
	ClientMobileDesktop   = "mobileAppsAndDesktopClients"
	clientAll             = "all"
	clientUnknownModern   = "" // browser or modern desktop client, not known which
	platformAll           = "all"
	locationAll           = "All"
	locationAllTrusted    = "AllTrusted"
	mfaTrustedIPsID       = "00000000-0000-0000-0000-000000000000"
	transferDeviceCode    = "deviceCodeFlow"
	riskNone              = "none"
	guestsOrExternal      = "GuestsOrExternalUsers"
	usersAll              = "All"
	usersNone             = "None"
	appsAll               = "All"
	appsNone              = "None"
	groupOffice365        = "Office365"
	groupAdminPortals     = "MicrosoftAdminPortals"
	operatorAND           = "AND"
	controlBlock          = "block"
	controlMFA            = "mfa"
	controlCompliant      = "compliantDevice"
	controlDomainJoined   = "domainJoinedDevice"
	controlApprovedApp    = "approvedApplication"
	controlCompliantApp   = "compliantApplication"
	controlPasswordChange = "passwordChange"
)

// Scenario is the sign-in the engine evaluates: a service provider user from
// the partner's tenant signing in to the customer tenant. Zero values mean
// "unknown" and take the defaults of DESIGN.md "The scenario".
type Scenario struct {
	// PartnerTenantID is the partner's (home) tenant. Required.
	PartnerTenantID string `json:"partnerTenantId"`
	// Apps are the resource or client app IDs signed in to. Empty: the
	// partner's usual apps (DefaultApps), and the worst result is reported.
	Apps []string `json:"apps,omitempty"`
	// ClientType is ClientBrowser or ClientMobileDesktop; empty when it is
	// not known which of the two (never legacy authentication).
	ClientType string `json:"clientType,omitempty"`
	// Platform is a Graph devicePlatform value (windows, macOS, iOS,
	// android, linux); empty when unknown. NormalizePlatform maps the
	// "Device platform" of an error page.
	Platform string `json:"platform,omitempty"`
	// IP is the client address; invalid when unknown.
	IP netip.Addr `json:"ipAddress,omitzero"`
	// Country is the ISO 3166 code of IP; empty when unknown (no
	// geolocation here).
	Country string `json:"country,omitempty"`
	// Roles are the directory role template IDs the partner's GDAP
	// relationship grants; RolesKnown says whether they are known at all.
	Roles      []string `json:"roles,omitempty"`
	RolesKnown bool     `json:"rolesKnown,omitempty"`
	// DeviceCodeFlow is set when the error shows the device code flow.
	DeviceCodeFlow bool `json:"deviceCodeFlow,omitempty"`
	// CrossTenant is the customer's cross-tenant setting for the partner,
	// when read; nil means the partner's device claims are not trusted.
	CrossTenant *CrossTenantPartner `json:"crossTenant,omitempty"`
	// CorrelationID of the failing sign-in, when a paste gave one.
	CorrelationID string `json:"correlationId,omitempty"`
	// ErrorCode is the AADSTS code of the pasted error the scenario comes
	// from; 0 without a paste.
	ErrorCode int `json:"errorCode,omitempty"`
	// ErrorTime is when the pasted error happened, when it says: a sign-in
	// log entry missing for a recent error has not arrived yet.
	ErrorTime time.Time `json:"errorTime,omitzero"`
	// ErrorPolicyIDs are the policies a claims challenge in the error
	// named (capolids): Microsoft's own word on which policies applied.
	ErrorPolicyIDs []string `json:"errorPolicyIds,omitempty"`
	// AllTenantsFix makes the planner exclude service provider users of
	// every tenant instead of the partner's alone (a configured choice).
	AllTenantsFix bool `json:"-"`
}

// PrimaryError is the error of a paste that describes the sign-in in
// question: the first Conditional Access error, else the first error.
func PrimaryError(errs []SignInError) (SignInError, bool) {
	if len(errs) == 0 {
		return SignInError{}, false
	}
	for _, e := range errs {
		if e.Category == CategoryConditionalAccess {
			return e, true
		}
	}
	return errs[0], true
}

// PastedScenario is the scenario pasted errors describe: the facts of
// PrimaryError (the resource app, else the app; platform, IP, correlation
// ID, time, the policy IDs of a claims challenge), with the device code flow
// if any error shows it, and the client type when the app or the flow tells
// it. What the paste does not say stays unknown; PartnerTenantID is left to
// the caller, and so is the tenant (SignInError.TenantID or TenantName).
func PastedScenario(errs []SignInError) Scenario {
	var sc Scenario
	e, ok := PrimaryError(errs)
	if !ok {
		return sc
	}
	// The resource decides which policies apply; the client app tells
	// the client type, and its usual resources when the paste names none.
	switch {
	case e.ResourceID != "":
		sc.Apps = []string{e.ResourceID}
	case e.AppID != "":
		sc.Apps = []string{e.AppID}
	}
	if a, ok := LookupApp(e.AppID); ok && e.AppID != "" {
		sc.ClientType = a.Client
	}
	sc.Platform = NormalizePlatform(e.DevicePlatform)
	if ip, err := netip.ParseAddr(e.IPAddress); err == nil {
		sc.IP = ip
	}
	sc.CorrelationID = e.CorrelationID
	sc.ErrorCode = e.Code
	sc.ErrorTime = e.Timestamp
	sc.ErrorPolicyIDs = slices.Clone(e.PolicyIDs)
	sc.DeviceCodeFlow = slices.ContainsFunc(errs, func(x SignInError) bool { return x.DeviceCodeFlow })
	if sc.DeviceCodeFlow {
		sc.ClientType = ClientMobileDesktop // only public clients use the device code flow
	}
	return sc
}

// App is a Microsoft application the engine knows: a resource that Conditional
// Access targets, or a client whose sign-ins reach such resources.
type App struct {
	ID   string
	Name string
	// Groups are the CA app groups containing the app (Office365,
	// MicrosoftAdminPortals).
	Groups []string
	// Resources are, for a client app, the resource apps it signs in to;
	// CA evaluates those, not the client.
	Resources []string
	// Client is the CA client app type of the app's sign-ins, for a client
	// app: ClientBrowser for a web app, ClientMobileDesktop for a public
	// client (a desktop tool signs in as one even through a browser window).
	Client string
}

// Well-known application IDs.
const (
	AppAdminPortals       = "MicrosoftAdminPortals" // stands for the admin portals as one target
	AppExchangeOnline     = "00000002-0000-0ff1-ce00-000000000000"
	AppMicrosoftGraph     = "00000003-0000-0000-c000-000000000000"
	AppAzureServiceMgmt   = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
	AppSharePointOnline   = "00000003-0000-0ff1-ce00-000000000000"
	AppAzurePortal        = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"
	AppOffice365Portal    = "00000006-0000-0ff1-ce00-000000000000"
	AppTeams              = "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe"
	AppExchangePowerShell = "fb78d390-0c51-40cd-8e17-fdbfab77341b"
	AppAzurePowerShell    = "1950a258-227b-4e31-a9cf-717495945fc2"
	AppAzureCLI           = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
	AppGraphPowerShell    = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
	AppGraphExplorer      = "de8bc8b5-d9f9-48b1-a8ad-b748da725064"
	AppPartnerCenter      = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"
	AppIntunePortal       = "5926fc8e-304e-4f59-8bed-58ca97cc39a4"
)

// DefaultApps are the resources a partner's staff usually sign in to; with no
// app in the scenario each is evaluated and the worst is reported.
var defaultApps = []string{AppAdminPortals, AppExchangeOnline, AppMicrosoftGraph, AppAzureServiceMgmt, AppSharePointOnline}

// DefaultApps returns the partner's usual apps (a fresh slice).
func DefaultApps() []string { return append([]string(nil), defaultApps...) }

var appCatalog = map[string]App{
	AppAdminPortals:       {ID: AppAdminPortals, Name: "Microsoft Admin Portals", Groups: []string{groupAdminPortals}},
	AppExchangeOnline:     {ID: AppExchangeOnline, Name: "Office 365 Exchange Online", Groups: []string{groupOffice365}},
	AppMicrosoftGraph:     {ID: AppMicrosoftGraph, Name: "Microsoft Graph"},
	AppAzureServiceMgmt:   {ID: AppAzureServiceMgmt, Name: "Windows Azure Service Management API"},
	AppSharePointOnline:   {ID: AppSharePointOnline, Name: "Office 365 SharePoint Online", Groups: []string{groupOffice365}},
	AppAzurePortal:        {ID: AppAzurePortal, Name: "Azure Portal", Groups: []string{groupAdminPortals}, Resources: []string{AppAzurePortal, AppAzureServiceMgmt}, Client: ClientBrowser},
	AppOffice365Portal:    {ID: AppOffice365Portal, Name: "Microsoft 365 admin center (Office 365 Portal)", Groups: []string{groupAdminPortals}, Client: ClientBrowser},
	AppTeams:              {ID: AppTeams, Name: "Microsoft Teams Services", Groups: []string{groupOffice365}},
	AppExchangePowerShell: {ID: AppExchangePowerShell, Name: "Exchange Online PowerShell", Resources: []string{AppExchangeOnline}, Client: ClientMobileDesktop},
	AppAzurePowerShell:    {ID: AppAzurePowerShell, Name: "Microsoft Azure PowerShell", Resources: []string{AppAzureServiceMgmt, AppMicrosoftGraph}, Client: ClientMobileDesktop},
	AppAzureCLI:           {ID: AppAzureCLI, Name: "Microsoft Azure CLI", Resources: []string{AppAzureServiceMgmt, AppMicrosoftGraph}, Client: ClientMobileDesktop},
	AppGraphPowerShell:    {ID: AppGraphPowerShell, Name: "Microsoft Graph Command Line Tools", Resources: []string{AppMicrosoftGraph}, Client: ClientMobileDesktop},
	AppGraphExplorer:      {ID: AppGraphExplorer, Name: "Graph Explorer", Resources: []string{AppMicrosoftGraph}, Client: ClientBrowser},
	AppPartnerCenter:      {ID: AppPartnerCenter, Name: "Microsoft Partner Center", Resources: []string{AppPartnerCenter}, Client: ClientBrowser},
	AppIntunePortal:       {ID: AppIntunePortal, Name: "Microsoft Intune portal extension", Groups: []string{groupAdminPortals}, Client: ClientBrowser},
}

// LookupApp returns what the engine knows of an app ID (case-insensitive);
// ok is false for an app it does not know, whose group membership is then
// unknown.
func LookupApp(id string) (App, bool) {
	a, ok := appCatalog[strings.ToLower(strings.TrimSpace(id))]
	if !ok {
		a, ok = appCatalog[strings.TrimSpace(id)]
	}
	return a, ok
}

// appHosts are the resource apps Microsoft's clients name by URI (a scope,
// "to access 'https://…'"), by the URI's host; national clouds included.
// A name ending in a dot matches the hosts under it (every tenant has its
// own SharePoint host).
var appHosts = []struct{ host, id string }{
	{"graph.microsoft.com", AppMicrosoftGraph},
	{"canary.graph.microsoft.com", AppMicrosoftGraph},
	{"graph.microsoft.us", AppMicrosoftGraph},
	{"dod-graph.microsoft.us", AppMicrosoftGraph},
	{"microsoftgraph.chinacloudapi.cn", AppMicrosoftGraph},
	{"outlook.office365.com", AppExchangeOnline},
	{"outlook.office.com", AppExchangeOnline},
	{"ps.outlook.com", AppExchangeOnline},
	{"outlook.office365.us", AppExchangeOnline},
	{"partner.outlook.cn", AppExchangeOnline},
	{"management.azure.com", AppAzureServiceMgmt},
	{"management.core.windows.net", AppAzureServiceMgmt},
	{"management.usgovcloudapi.net", AppAzureServiceMgmt},
	{"management.core.usgovcloudapi.net", AppAzureServiceMgmt},
	{"management.chinacloudapi.cn", AppAzureServiceMgmt},
	{"management.core.chinacloudapi.cn", AppAzureServiceMgmt},
	{".sharepoint.com", AppSharePointOnline},
	{".sharepoint.us", AppSharePointOnline},
	{".sharepoint.cn", AppSharePointOnline},
	{"api.spaces.skype.com", AppTeams},
	{"api.partnercenter.microsoft.com", AppPartnerCenter},
	// Not in the catalog (their CA app groups are not known), but named by ID.
	{"graph.windows.net", "00000002-0000-0000-c000-000000000000"}, // Azure AD Graph
	{"vault.azure.net", "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"},   // Azure Key Vault
	{"manage.office.com", "c5393580-f805-4401-95e8-94b7a6ef2fc2"}, // Office 365 Management APIs
}

// AppByURI finds the app a resource URI names: a well-known one by its host
// (https://graph.microsoft.com/.default is Microsoft Graph), or an app's own
// api://<application ID>. The App has only its ID when the catalog does not
// know it.
func AppByURI(uri string) (App, bool) {
	uri = strings.ToLower(strings.TrimSpace(uri))
	rest, ok := strings.CutPrefix(uri, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(uri, "http://")
	}
	if !ok {
		if rest, ok = strings.CutPrefix(uri, "api://"); ok {
			id, _, _ := strings.Cut(rest, "/")
			if _, _, ok := parseGUIDAt(id, 0); ok && len(id) == 36 {
				if a, known := LookupApp(id); known {
					return a, true
				}
				return App{ID: id}, true
			}
		}
		return App{}, false
	}
	host, _, _ := strings.Cut(rest, "/")
	host, _, _ = strings.Cut(host, ":")
	for _, h := range appHosts {
		if host == h.host || strings.HasPrefix(h.host, ".") && strings.HasSuffix(host, h.host) {
			if a, known := LookupApp(h.id); known {
				return a, true
			}
			return App{ID: h.id}, true
		}
	}
	return App{}, false
}

// AppName returns a display name for an app ID, or the ID itself.
func AppName(id string) string {
	if a, ok := LookupApp(id); ok {
		return a.Name
	}
	return id
}

// resourcesOf expands the scenario's apps into the resources CA evaluates.
func resourcesOf(apps []string) []string {
	if len(apps) == 0 {
		return defaultApps
	}
	var out []string
	for _, id := range apps {
		if a, ok := LookupApp(id); ok && len(a.Resources) > 0 {
			for _, r := range a.Resources {
				if !containsFold(out, r) {
					out = append(out, r)
				}
			}
			continue
		}
		if !containsFold(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// Role is a built-in directory role.
type Role struct {
	ID   string // role template ID, as CA policies and GDAP name it
	Name string
}

var roleCatalog = []Role{
	{"62e90394-69f5-4237-9190-012177145e10", "Global Administrator"},
	{"f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"},
	{"194ae4cb-b126-40b2-bd5b-6091b380977d", "Security Administrator"},
	{"5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader"},
	{"b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", "Conditional Access Administrator"},
	{"29232cdf-9323-42fd-ade2-1d097af3e4de", "Exchange Administrator"},
	{"f28a1f50-f6e7-4571-818b-6a12f2af6b6c", "SharePoint Administrator"},
	{"69091246-20e8-4a56-aa4d-066075b2a7a8", "Teams Administrator"},
	{"fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"},
	{"729827e3-9c14-49f7-bb1b-9608f156bbb8", "Helpdesk Administrator"},
	{"966707d0-3269-4727-9be2-8c3a10f19b9d", "Password Administrator"},
	{"7be44c8a-adaf-4e2a-84d6-ab2649e08a13", "Privileged Authentication Administrator"},
	{"c4e39bd9-1100-46d3-8c65-fb160da0071f", "Authentication Administrator"},
	{"e8611ab8-c189-46e8-94e1-60213ab1f814", "Privileged Role Administrator"},
	{"9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "Application Administrator"},
	{"158c047a-c907-4556-b7ef-446551a6b5f7", "Cloud Application Administrator"},
	{"3a2c62db-5318-420d-8d74-23affee5d9d5", "Intune Administrator"},
	{"b0f54661-2d74-4c50-afa3-1ec803f12efe", "Billing Administrator"},
	{"f023fd81-a637-4b56-95fd-791ac0226033", "Service Support Administrator"},
	{"4a5d8f65-41da-4de4-8968-e035b65339cf", "Reports Reader"},
	{"17315797-102d-40b4-93e0-432062caca18", "Compliance Administrator"},
	{"9360feb5-f418-4baa-8175-e2a00bac4301", "Directory Writers"},
	{"88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers"},
	{"11648597-926c-4cf3-9c36-bcebb0ba8dcc", "Power Platform Administrator"},
	{"644ef478-e28f-4e28-b9dc-3fdde9aa0b1f", "Printer Administrator"},
	{"0526716b-113d-4c15-b2c8-68e3c22b9f80", "Authentication Policy Administrator"},
	{"e3973bdf-4987-49ae-837a-ba8e231c7286", "Azure DevOps Administrator"},
	{"44367163-eba1-44c3-98af-f5787879f96a", "Dynamics 365 Administrator"},
	{"8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2", "Hybrid Identity Administrator"},
	{"baf37b3a-610e-45da-9e62-d9d1e5e8914b", "Teams Communications Administrator"},
	{"fdd7a751-b60b-444a-984c-02652fe8fa1c", "Groups Administrator"},
	{"11451d60-acb2-45eb-a7d6-43d0f0125c13", "Windows 365 Administrator"},
	{"3d762c5a-1b6c-493f-843e-55a3b42923d4", "Teams Devices Administrator"},
	{"892c5842-a9a6-463a-8041-72aa08ca3cf6", "Cloud App Security Administrator"},
	{"38a96431-2bdf-4b4c-8b6e-5d3d8abac1a4", "Desktop Analytics Administrator"},
	{"7698a772-787b-4ac8-901f-60d6b08affd2", "Cloud Device Administrator"},
	{"5f2222b1-57c3-48ba-8ad5-d4759f1fde6f", "Security Operator"},
	{"75941009-915a-4869-abe7-691bff18279e", "Skype for Business Administrator"},
	{"a9ea8996-122f-4c74-9520-8edcd192826c", "Fabric Administrator"},
	{"31392ffb-586c-42d1-9346-e59415a2cc4e", "Exchange Recipient Administrator"},
}

// RoleName returns the display name of a role template ID, or the ID.
func RoleName(id string) string {
	for _, r := range roleCatalog {
		if strings.EqualFold(r.ID, strings.TrimSpace(id)) {
			return r.Name
		}
	}
	return id
}

// LookupRole finds a built-in role by template ID or display name
// (case-insensitive).
func LookupRole(s string) (Role, bool) {
	s = strings.TrimSpace(s)
	for _, r := range roleCatalog {
		if strings.EqualFold(r.ID, s) || strings.EqualFold(r.Name, s) {
			return r, true
		}
	}
	return Role{}, false
}

// roleID resolves a role named by ID or, as some exports do, by display name.
func roleID(s string) string {
	if r, ok := LookupRole(s); ok {
		return r.ID
	}
	return strings.ToLower(strings.TrimSpace(s))
}

// FindApp finds a known app by ID, display name (case-insensitive) or
// resource URI (AppByURI).
func FindApp(s string) (App, bool) {
	if a, ok := LookupApp(s); ok {
		return a, true
	}
	if a, ok := AppByURI(s); ok {
		return a, true
	}
	s = strings.TrimSpace(s)
	for _, a := range appCatalog {
		if strings.EqualFold(a.Name, s) {
			return a, true
		}
	}
	return App{}, false
}

// NormalizePlatform maps the platform names seen in errors and sign-in logs
// ("Windows 10", "Mac OS", "iPadOS") to Graph's devicePlatform values; it
// returns "" for what it cannot place.
func NormalizePlatform(s string) string {
	l := strings.ToLower(strings.TrimSpace(s))
	switch {
	case l == "":
		return ""
	case strings.Contains(l, "windows phone"):
		return "windowsPhone"
	case strings.HasPrefix(l, "windows"):
		return "windows"
	case strings.Contains(l, "mac"):
		return "macOS"
	case l == "ios" || strings.Contains(l, "iphone") || strings.Contains(l, "ipad"):
		return "iOS"
	case strings.Contains(l, "android"):
		return "android"
	case strings.Contains(l, "linux") || strings.Contains(l, "ubuntu"):
		return "linux"
	}
	return ""
}

// desktopPlatform reports whether a platform is a desktop one (on which app
// protection policies cannot be satisfied).
func desktopPlatform(p string) bool {
	switch p {
	case "windows", "macOS", "linux":
		return true
	}
	return false
}
