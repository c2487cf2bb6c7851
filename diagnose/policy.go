package diagnose

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Policy states as Graph spells them. Compare with strings.EqualFold: exports
// made by other tools disagree on case.
const (
	StateEnabled    = "enabled"
	StateDisabled   = "disabled"
	StateReportOnly = "enabledForReportingButNotEnforced"
)

// Policy is a Conditional Access policy in the Graph v1.0 shape
// (conditionalAccessPolicy). Enumerations are kept as the strings Graph sent,
// so a value Graph adds tomorrow decodes today and evaluates as unknown.
type Policy struct {
	ID               string          `json:"id"`
	DisplayName      string          `json:"displayName"`
	State            string          `json:"state"`
	CreatedDateTime  *time.Time      `json:"createdDateTime,omitempty"`
	ModifiedDateTime *time.Time      `json:"modifiedDateTime,omitempty"`
	Conditions       Conditions      `json:"conditions"`
	GrantControls    *GrantControls  `json:"grantControls,omitempty"`
	SessionControls  json.RawMessage `json:"sessionControls,omitempty"`
}

// Conditions is conditionalAccessConditionSet.
type Conditions struct {
	Users                      *UsersCondition        `json:"users,omitempty"`
	Applications               *ApplicationsCondition `json:"applications,omitempty"`
	ClientApplications         *ClientApplications    `json:"clientApplications,omitempty"`
	ClientAppTypes             []string               `json:"clientAppTypes,omitempty"`
	Platforms                  *PlatformsCondition    `json:"platforms,omitempty"`
	Locations                  *LocationsCondition    `json:"locations,omitempty"`
	Devices                    *DevicesCondition      `json:"devices,omitempty"`
	SignInRiskLevels           []string               `json:"signInRiskLevels,omitempty"`
	UserRiskLevels             []string               `json:"userRiskLevels,omitempty"`
	ServicePrincipalRiskLevels []string               `json:"servicePrincipalRiskLevels,omitempty"`
	// InsiderRiskLevels is a flags enum: a comma-separated list in one string.
	InsiderRiskLevels   string               `json:"insiderRiskLevels,omitempty"`
	AuthenticationFlows *AuthenticationFlows `json:"authenticationFlows,omitempty"`
}

// UsersCondition is conditionalAccessUsers. A fix PATCHes this object whole,
// so it must drop nothing: every property Graph v1.0 has is modelled, and
// those it may add later are kept as read (in other) and written back by
// MarshalJSON.
type UsersCondition struct {
	IncludeUsers                 []string               `json:"includeUsers"`
	ExcludeUsers                 []string               `json:"excludeUsers"`
	IncludeGroups                []string               `json:"includeGroups"`
	ExcludeGroups                []string               `json:"excludeGroups"`
	IncludeRoles                 []string               `json:"includeRoles"`
	ExcludeRoles                 []string               `json:"excludeRoles"`
	IncludeGuestsOrExternalUsers *GuestsOrExternalUsers `json:"includeGuestsOrExternalUsers"`
	ExcludeGuestsOrExternalUsers *GuestsOrExternalUsers `json:"excludeGuestsOrExternalUsers"`

	// other holds the properties not modelled above, in the order read.
	other []rawProperty
}

// rawProperty is one JSON object member kept as read.
type rawProperty struct {
	name  string
	value json.RawMessage
}

// usersProperties are the JSON names of UsersCondition's fields.
var usersProperties = []string{"includeUsers", "excludeUsers", "includeGroups", "excludeGroups", "includeRoles", "excludeRoles", "includeGuestsOrExternalUsers", "excludeGuestsOrExternalUsers"}

// usersFields is UsersCondition without its methods: the default encoding
// of the modelled fields (encoding/json ignores other).
type usersFields UsersCondition

// UnmarshalJSON decodes the modelled properties as encoding/json does (names
// matched case-insensitively) and keeps every other property as read.
func (u *UsersCondition) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil
	}
	var f usersFields
	if err := json.Unmarshal(data, &f); err != nil {
		return err
	}
	*u = UsersCondition(f)
	other, err := unmodelled(data, usersProperties)
	u.other = other
	return err
}

// MarshalJSON writes the modelled properties, then the others as read.
func (u UsersCondition) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(usersFields(u))
	if err != nil || len(u.other) == 0 {
		return b, err
	}
	b = b[:len(b)-1] // the closing brace
	for _, p := range u.other {
		name, _ := json.Marshal(p.name)
		b = append(b, ',')
		b = append(b, name...)
		b = append(b, ':')
		b = append(b, p.value...)
	}
	return append(b, '}'), nil
}

// unmodelled returns the members of the JSON object data whose names match
// none of known (case-insensitively, as encoding/json matches fields), in
// order, values compacted; OData annotations (@odata.type,
// includeUsers@odata.type) are left out.
func unmodelled(data []byte, known []string) ([]rawProperty, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var out []rawProperty
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if strings.Contains(name, "@") || slices.ContainsFunc(known, func(k string) bool { return strings.EqualFold(k, name) }) {
			continue // annotations describe a value; they are not sent back
		}
		var c bytes.Buffer
		if err := json.Compact(&c, v); err != nil {
			return nil, err
		}
		out = append(out, rawProperty{name, c.Bytes()})
	}
	return out, nil
}

// GuestsOrExternalUsers is conditionalAccessGuestsOrExternalUsers.
type GuestsOrExternalUsers struct {
	// GuestOrExternalUserTypes is a flags enum: "internalGuest,serviceProvider".
	GuestOrExternalUserTypes string           `json:"guestOrExternalUserTypes"`
	ExternalTenants          *ExternalTenants `json:"externalTenants"`
}

// Membership kinds of ExternalTenants.
const (
	MembershipAll        = "all"
	MembershipEnumerated = "enumerated"
)

// Guest or external user types (the flags of GuestOrExternalUserTypes).
const (
	TypeServiceProvider = "serviceProvider"
)

// ExternalTenants is conditionalAccessExternalTenants: either all tenants or an
// enumerated list (conditionalAccessEnumeratedExternalTenants).
type ExternalTenants struct {
	ODataType      string   `json:"@odata.type,omitempty"`
	MembershipKind string   `json:"membershipKind"`
	Members        []string `json:"members,omitempty"`
}

// MarshalJSON writes the members list for enumerated tenants even when it is
// empty, since Graph reads a missing list differently from an empty one.
func (t ExternalTenants) MarshalJSON() ([]byte, error) {
	if strings.EqualFold(t.MembershipKind, MembershipEnumerated) {
		members := t.Members
		if members == nil {
			members = []string{}
		}
		return json.Marshal(struct {
			ODataType      string   `json:"@odata.type"`
			MembershipKind string   `json:"membershipKind"`
			Members        []string `json:"members"`
		}{"#microsoft.graph.conditionalAccessEnumeratedExternalTenants", MembershipEnumerated, members})
	}
	odata := t.ODataType
	if odata == "" && strings.EqualFold(t.MembershipKind, MembershipAll) {
		odata = "#microsoft.graph.conditionalAccessAllExternalTenants"
	}
	return json.Marshal(struct {
		ODataType      string `json:"@odata.type,omitempty"`
		MembershipKind string `json:"membershipKind"`
	}{odata, t.MembershipKind})
}

// Types returns the set of guest or external user types, parsed from the flag list.
func (g *GuestsOrExternalUsers) Types() []string {
	if g == nil {
		return nil
	}
	return splitFlags(g.GuestOrExternalUserTypes)
}

// HasType reports whether the flag list contains typ (case-insensitively).
func (g *GuestsOrExternalUsers) HasType(typ string) bool {
	return g != nil && hasFlag(g.GuestOrExternalUserTypes, typ)
}

// CoversTenant reports whether the external tenants include tenantID.
func (g *GuestsOrExternalUsers) CoversTenant(tenantID string) bool {
	if g == nil || g.ExternalTenants == nil {
		// Graph requires externalTenants; a policy without it in an export
		// was written by a tool that dropped "all".
		return g != nil
	}
	t := g.ExternalTenants
	if strings.EqualFold(t.MembershipKind, MembershipAll) {
		return true
	}
	for _, m := range t.Members {
		if strings.EqualFold(strings.TrimSpace(m), tenantID) {
			return true
		}
	}
	return false
}

// AllTenants reports whether the external tenants are "all".
func (g *GuestsOrExternalUsers) AllTenants() bool {
	return g != nil && (g.ExternalTenants == nil || strings.EqualFold(g.ExternalTenants.MembershipKind, MembershipAll))
}

// ApplicationsCondition is conditionalAccessApplications.
type ApplicationsCondition struct {
	IncludeApplications                         []string `json:"includeApplications"`
	ExcludeApplications                         []string `json:"excludeApplications"`
	IncludeUserActions                          []string `json:"includeUserActions,omitempty"`
	IncludeAuthenticationContextClassReferences []string `json:"includeAuthenticationContextClassReferences,omitempty"`
	ApplicationFilter                           *Filter  `json:"applicationFilter,omitempty"`
}

// ClientApplications is conditionalAccessClientApplications: the workload
// identities a policy targets.
type ClientApplications struct {
	IncludeServicePrincipals []string `json:"includeServicePrincipals,omitempty"`
	ExcludeServicePrincipals []string `json:"excludeServicePrincipals,omitempty"`
	ServicePrincipalFilter   *Filter  `json:"servicePrincipalFilter,omitempty"`
}

// Filter is conditionalAccessFilter (device, application or service principal filter).
type Filter struct {
	Mode string `json:"mode"`
	Rule string `json:"rule"`
}

// PlatformsCondition is conditionalAccessPlatforms.
type PlatformsCondition struct {
	IncludePlatforms []string `json:"includePlatforms"`
	ExcludePlatforms []string `json:"excludePlatforms"`
}

// LocationsCondition is conditionalAccessLocations. Members are named location
// IDs, "All", or "AllTrusted"; some exports use display names instead of IDs.
type LocationsCondition struct {
	IncludeLocations []string `json:"includeLocations"`
	ExcludeLocations []string `json:"excludeLocations"`
}

// DevicesCondition is conditionalAccessDevices.
type DevicesCondition struct {
	DeviceFilter *Filter `json:"deviceFilter,omitempty"`
}

// AuthenticationFlows is conditionalAccessAuthenticationFlows.
type AuthenticationFlows struct {
	// TransferMethods is a flags enum: "deviceCodeFlow,authenticationTransfer".
	TransferMethods string `json:"transferMethods"`
}

// GrantControls is conditionalAccessGrantControls.
type GrantControls struct {
	Operator                    string                  `json:"operator"`
	BuiltInControls             []string                `json:"builtInControls"`
	CustomAuthenticationFactors []string                `json:"customAuthenticationFactors"`
	TermsOfUse                  []string                `json:"termsOfUse"`
	AuthenticationStrength      *AuthenticationStrength `json:"authenticationStrength,omitempty"`
}

// AuthenticationStrength is the part of authenticationStrengthPolicy a grant names.
type AuthenticationStrength struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName,omitempty"`
}

// MFAStrengthID is the built-in "Multifactor authentication" strength, which
// the partner's home-tenant MFA satisfies.
const MFAStrengthID = "00000000-0000-0000-0000-000000000002"

// Validate reports what makes p unusable as a policy: exports of another
// object kind decode without error but have none of a policy's properties.
func (p *Policy) Validate() error {
	if p.ID == "" && p.DisplayName == "" {
		return Errorf(EINVALID, "not a conditional access policy: it has neither id nor displayName")
	}
	if p.State == "" {
		return Errorf(EINVALID, "policy %q has no state", p.label())
	}
	return nil
}

func (p *Policy) label() string {
	if p.DisplayName != "" {
		return p.DisplayName
	}
	return p.ID
}

// HasSessionControls reports whether any session control is configured.
func (p *Policy) HasSessionControls() bool {
	raw := bytes.TrimSpace(p.SessionControls)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	for k, v := range m {
		if strings.HasPrefix(k, "@") {
			continue
		}
		switch string(bytes.TrimSpace(v)) {
		case "null", "false", "{}", "[]", `""`:
			continue
		}
		return true
	}
	return false
}

// splitFlags parses a Graph flags enum ("a,b, c") into its members.
func splitFlags(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func hasFlag(s, flag string) bool {
	for f := range strings.SplitSeq(s, ",") {
		if strings.EqualFold(strings.TrimSpace(f), flag) {
			return true
		}
	}
	return false
}

// containsFold reports whether list has s, case-insensitively.
func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(strings.TrimSpace(v), s) {
			return true
		}
	}
	return false
}
