package diagnose

import (
	"net/netip"
	"strings"
	"time"
)

// NamedLocation is a Graph namedLocation: an ipNamedLocation (IP ranges) or a
// countryNamedLocation (countries), told apart by @odata.type, or by which of
// their properties is present when an export dropped the type.
type NamedLocation struct {
	ODataType   string `json:"@odata.type,omitempty"`
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	// IP locations.
	IsTrusted bool      `json:"isTrusted,omitempty"`
	IPRanges  []IPRange `json:"ipRanges,omitempty"`
	// Country locations.
	CountriesAndRegions               []string `json:"countriesAndRegions,omitempty"`
	IncludeUnknownCountriesAndRegions bool     `json:"includeUnknownCountriesAndRegions,omitempty"`
	CountryLookupMethod               string   `json:"countryLookupMethod,omitempty"`
}

// IPRange is an iPv4CidrRange or iPv6CidrRange.
type IPRange struct {
	ODataType   string `json:"@odata.type,omitempty"`
	CIDRAddress string `json:"cidrAddress"`
}

// IsCountry reports whether l is a country location.
func (l *NamedLocation) IsCountry() bool {
	if strings.Contains(strings.ToLower(l.ODataType), "country") {
		return true
	}
	return l.ODataType == "" && len(l.CountriesAndRegions) > 0
}

// Contains reports whether ip is in one of l's IP ranges. A range that does
// not parse matches nothing; Validate reports it.
func (l *NamedLocation) Contains(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, r := range l.IPRanges {
		if p, err := netip.ParsePrefix(strings.TrimSpace(r.CIDRAddress)); err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}

// Validate reports what makes l unusable as a named location.
func (l *NamedLocation) Validate() error {
	if l.ID == "" && l.DisplayName == "" {
		return Errorf(EINVALID, "not a named location: it has neither id nor displayName")
	}
	for _, r := range l.IPRanges {
		if _, err := netip.ParsePrefix(strings.TrimSpace(r.CIDRAddress)); err != nil {
			return Errorf(EINVALID, "named location %q: ip range %q is not CIDR notation", l.DisplayName, r.CIDRAddress)
		}
	}
	return nil
}

// SignIn is the part of a Graph v1.0 signIn that confirms or refutes a
// diagnosis.
type SignIn struct {
	ID                               string          `json:"id"`
	CreatedDateTime                  time.Time       `json:"createdDateTime"`
	UserPrincipalName                string          `json:"userPrincipalName,omitempty"`
	AppID                            string          `json:"appId,omitempty"`
	AppDisplayName                   string          `json:"appDisplayName,omitempty"`
	ResourceID                       string          `json:"resourceId,omitempty"`
	ResourceDisplayName              string          `json:"resourceDisplayName,omitempty"`
	IPAddress                        string          `json:"ipAddress,omitempty"`
	CorrelationID                    string          `json:"correlationId,omitempty"`
	ClientAppUsed                    string          `json:"clientAppUsed,omitempty"`
	ConditionalAccessStatus          string          `json:"conditionalAccessStatus,omitempty"`
	CrossTenantAccessType            string          `json:"crossTenantAccessType,omitempty"`
	HomeTenantID                     string          `json:"homeTenantId,omitempty"`
	ResourceTenantID                 string          `json:"resourceTenantId,omitempty"`
	Status                           *SignInStatus   `json:"status,omitempty"`
	DeviceDetail                     *DeviceDetail   `json:"deviceDetail,omitempty"`
	AppliedConditionalAccessPolicies []AppliedPolicy `json:"appliedConditionalAccessPolicies,omitempty"`
}

// SignInStatus is signInStatus.
type SignInStatus struct {
	ErrorCode     int    `json:"errorCode"`
	FailureReason string `json:"failureReason,omitempty"`
}

// DeviceDetail is the part of deviceDetail the scenario uses.
type DeviceDetail struct {
	OperatingSystem string `json:"operatingSystem,omitempty"`
	Browser         string `json:"browser,omitempty"`
	IsCompliant     bool   `json:"isCompliant,omitempty"`
	IsManaged       bool   `json:"isManaged,omitempty"`
	TrustType       string `json:"trustType,omitempty"`
}

// AppliedPolicy is appliedConditionalAccessPolicy: one policy's outcome for
// one sign-in.
type AppliedPolicy struct {
	ID                      string   `json:"id"`
	DisplayName             string   `json:"displayName,omitempty"`
	Result                  string   `json:"result"`
	EnforcedGrantControls   []string `json:"enforcedGrantControls,omitempty"`
	EnforcedSessionControls []string `json:"enforcedSessionControls,omitempty"`
}

// Applied policy results that matter here (appliedConditionalAccessPolicyResult).
const (
	ResultFailure           = "failure"
	ResultSuccess           = "success"
	ResultNotApplied        = "notApplied"
	ResultReportOnlyFailure = "reportOnlyFailure"
)

// Validate reports what makes s unusable as a sign-in log entry.
func (s *SignIn) Validate() error {
	if s.ID == "" && s.CorrelationID == "" {
		return Errorf(EINVALID, "not a sign-in log entry: it has neither id nor correlationId")
	}
	return nil
}

// CrossTenantPartner is the part of crossTenantAccessPolicyConfigurationPartner
// (or of the default configuration) the scenario uses: whether the customer
// trusts the partner's device claims.
type CrossTenantPartner struct {
	TenantID     string        `json:"tenantId,omitempty"`
	InboundTrust *InboundTrust `json:"inboundTrust,omitempty"`
}

// InboundTrust is crossTenantAccessPolicyInboundTrust.
type InboundTrust struct {
	IsMfaAccepted                       *bool `json:"isMfaAccepted,omitempty"`
	IsCompliantDeviceAccepted           *bool `json:"isCompliantDeviceAccepted,omitempty"`
	IsHybridAzureADJoinedDeviceAccepted *bool `json:"isHybridAzureADJoinedDeviceAccepted,omitempty"`
}

// Validate reports what makes c unusable as cross-tenant settings.
func (c *CrossTenantPartner) Validate() error {
	if c.TenantID == "" && c.InboundTrust == nil {
		return Errorf(EINVALID, "not cross-tenant access settings: it has neither tenantId nor inboundTrust")
	}
	return nil
}
