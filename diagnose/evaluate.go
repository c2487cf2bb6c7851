package diagnose

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Effect is what one policy does to the scenario's sign-in.
type Effect string

// Effects, from docs/evaluation.md, "Rules".
const (
	EffectBlocks        Effect = "blocks"
	EffectMayBlock      Effect = "may_block"
	EffectSatisfied     Effect = "satisfied"
	EffectNotApplicable Effect = "not_applicable"
	EffectExcluded      Effect = "excluded"
	EffectReportOnly    Effect = "report_only"
	EffectDisabled      Effect = "disabled"
)

// Blocking reports whether the effect calls for a fix.
func (e Effect) Blocking() bool { return e == EffectBlocks || e == EffectMayBlock }

// tri is a three-valued truth: a condition matches, does not, or depends on
// a fact the scenario does not know.
type tri int8

const (
	no tri = iota
	unknown
	yes
)

// or is Kleene disjunction.
func (a tri) or(b tri) tri { return max(a, b) }

// and is Kleene conjunction.
func (a tri) and(b tri) tri { return min(a, b) }

func (a tri) not() tri { return yes - a }

// outcome is one condition's or one grant's result with the line explaining it.
type outcome struct {
	match  tri
	reason string
	// facts name, for an unknown match, the facts it depends on ("the
	// device platform"): what would decide it.
	facts []string
}

// evaluator holds what is computed once per diagnosis: the scenario's
// resources and the tenant's named locations, indexed.
type evaluator struct {
	sc Scenario
	// apps are the scenario's resources, looked up once; noApps is the
	// reason given when a policy targets none of them.
	apps   []resolvedApp
	noApps string
	// locations by lower-cased ID and display name; nil when the tenant's
	// list was not read, so that every reference to one stays unknown.
	locations map[string]*NamedLocation
	// trustedIP says whether the scenario's IP is in a trusted IP location.
	trustedIP tri
	roles     map[string]bool
	platform  string
}

func newEvaluator(sc Scenario, locations []NamedLocation) *evaluator {
	e := &evaluator{sc: sc, platform: NormalizePlatform(sc.Platform), trustedIP: unknown}
	var names []string
	for _, id := range resourcesOf(sc.Apps) {
		app, known := LookupApp(id)
		name := id
		if known {
			name = app.Name
		}
		e.apps = append(e.apps, resolvedApp{id: id, name: name, groups: app.Groups, known: known})
		names = append(names, name)
	}
	e.noApps = "apps: does not target " + strings.Join(names, ", ")
	if sc.Platform != "" && e.platform == "" {
		// A platform Graph names already (e.g. "windowsPhone") passes through.
		e.platform = sc.Platform
	}
	if locations != nil {
		e.locations = make(map[string]*NamedLocation, 2*len(locations))
		trusted := no
		for i := range locations {
			l := &locations[i]
			if l.ID != "" {
				e.locations[strings.ToLower(l.ID)] = l
			}
			if l.DisplayName != "" {
				if _, dup := e.locations[strings.ToLower(l.DisplayName)]; !dup {
					e.locations[strings.ToLower(l.DisplayName)] = l
				}
			}
			if l.IsTrusted && !l.IsCountry() {
				if !sc.IP.IsValid() {
					trusted = unknown
				} else if l.Contains(sc.IP) {
					trusted = yes
				}
			}
		}
		// With the IP unknown, AllTrusted is still certainly false when
		// the tenant has no trusted IP location at all.
		if trusted == unknown && !sc.IP.IsValid() {
			e.trustedIP = unknown
		} else {
			e.trustedIP = trusted
		}
	}
	if sc.RolesKnown {
		e.roles = make(map[string]bool, len(sc.Roles))
		for _, r := range sc.Roles {
			e.roles[roleID(r)] = true
		}
	}
	return e
}

// evaluate gives one policy's effect and reasons.
func (e *evaluator) evaluate(p *Policy) PolicyResult {
	r := PolicyResult{ID: p.ID, DisplayName: p.DisplayName, State: p.State, Policy: p}
	switch {
	case strings.EqualFold(p.State, StateDisabled):
		r.Effect = EffectDisabled
		r.Reasons = []string{"state: disabled"}
		return r
	case strings.EqualFold(p.State, StateReportOnly):
		r.WouldBe, r.Reasons, r.Unknowns = e.effect(p)
		r.Effect = EffectReportOnly
		r.Reasons = append([]string{reportOnlyReason(r.WouldBe)}, r.Reasons...)
		return r
	case !strings.EqualFold(p.State, StateEnabled):
		// A state Graph adds later: evaluate as enabled, and say so.
		eff, reasons, unknowns := e.effect(p)
		r.Effect, r.Unknowns = eff, unknowns
		r.Reasons = append([]string{fmt.Sprintf("state: %q is not a state this engine knows; evaluated as enabled", p.State)}, reasons...)
		return r
	}
	r.Effect, r.Reasons, r.Unknowns = e.effect(p)
	return r
}

// effect applies the rules in the order of docs/evaluation.md: excluded, then not
// applicable as soon as one condition certainly does not match, then the
// grant. For may_block it also names the unknown facts that decide it.
func (e *evaluator) effect(p *Policy) (Effect, []string, []string) {
	c := &p.Conditions
	if o, excluded := e.usersExcluded(c.Users); excluded {
		return EffectExcluded, []string{o.reason}, nil
	}
	conds := [...]func(*Conditions) outcome{
		e.workloadIdentities,
		e.users,
		e.applications,
		e.clientApps,
		e.platforms,
		e.locationsCond,
		e.deviceFilter,
		e.risk,
		e.authFlows,
	}
	reasons := make([]string, 0, 4)
	var facts []string
	all := yes
	for _, cond := range conds {
		o := cond(c)
		if o.match == no {
			return EffectNotApplicable, []string{o.reason}, nil
		}
		all = all.and(o.match)
		if o.reason != "" {
			reasons = append(reasons, o.reason)
		}
		if o.match == unknown {
			facts = appendNew(facts, o.facts...)
		}
	}
	g := e.grant(p)
	reasons = append(reasons, g.reason)
	switch {
	case g.match == yes:
		return EffectSatisfied, reasons, nil
	case g.match == no && all == yes:
		return EffectBlocks, reasons, nil
	case g.match == unknown:
		facts = appendNew(facts, g.facts...)
	}
	return EffectMayBlock, reasons, facts
}

// usersExcluded reports whether the policy exempts the partner's service
// provider users outright.
func (e *evaluator) usersExcluded(u *UsersCondition) (outcome, bool) {
	if u == nil {
		return outcome{}, false
	}
	if x := u.ExcludeGuestsOrExternalUsers; x.Excludes(e.sc.PartnerTenantID) {
		if x.AllTenants() {
			return outcome{match: no, reason: "users: excludes service provider users of all tenants"}, true
		}
		return outcome{match: no, reason: "users: excludes service provider users of the partner tenant"}, true
	}
	if containsFold(u.ExcludeUsers, guestsOrExternal) {
		return outcome{match: no, reason: "users: excludes all guest and external users (GuestsOrExternalUsers), the partner included"}, true
	}
	return outcome{}, false
}

func (e *evaluator) workloadIdentities(c *Conditions) outcome {
	if c.ClientApplications != nil && len(c.ClientApplications.IncludeServicePrincipals) > 0 &&
		(c.Users == nil || len(c.Users.IncludeUsers) == 0 && len(c.Users.IncludeGroups) == 0 && len(c.Users.IncludeRoles) == 0 && c.Users.IncludeGuestsOrExternalUsers == nil) {
		return outcome{match: no, reason: "users: targets workload identities (service principals) only"}
	}
	return outcome{match: yes}
}

func (e *evaluator) users(c *Conditions) outcome {
	u := c.Users
	if u == nil {
		return outcome{match: no, reason: "users: no users targeted"}
	}
	if containsFold(u.IncludeUsers, usersNone) {
		return outcome{match: no, reason: "users: includes no users (None)"}
	}
	// Directory roles reach GDAP users: an excluded role they hold exempts them.
	if e.roles != nil {
		for _, r := range u.ExcludeRoles {
			if e.roles[roleID(r)] {
				return outcome{match: no, reason: "users: excludes the directory role " + RoleName(roleID(r)) + ", which the partner's GDAP relationship grants"}
			}
		}
	}
	switch {
	case containsFold(u.IncludeUsers, usersAll):
		return outcome{match: yes, reason: "users: includes all users"}
	case containsFold(u.IncludeUsers, guestsOrExternal):
		return outcome{match: yes, reason: "users: includes all guest and external users"}
	}
	if g := u.IncludeGuestsOrExternalUsers; g.HasType(TypeServiceProvider) && g.CoversTenant(e.sc.PartnerTenantID) {
		return outcome{match: yes, reason: "users: includes service provider users of the partner tenant"}
	}
	if len(u.IncludeRoles) > 0 {
		names := make([]string, len(u.IncludeRoles))
		for i, r := range u.IncludeRoles {
			names[i] = RoleName(roleID(r))
		}
		if e.roles == nil {
			return outcome{match: unknown, reason: "users: includes directory roles (" + strings.Join(names, ", ") + "); the partner's GDAP roles are unknown", facts: []string{"the partner's GDAP roles"}}
		}
		for _, r := range u.IncludeRoles {
			if e.roles[roleID(r)] {
				return outcome{match: yes, reason: "users: includes the directory role " + RoleName(roleID(r)) + ", which the partner's GDAP relationship grants"}
			}
		}
		return outcome{match: no, reason: "users: includes only directory roles the partner's GDAP relationship does not grant (" + strings.Join(names, ", ") + ")"}
	}
	return outcome{match: no, reason: "users: targets specific users, groups or other external user types only; service provider users have no object in the tenant"}
}

func (e *evaluator) applications(c *Conditions) outcome {
	a := c.Applications
	if a == nil || len(a.IncludeApplications) == 0 {
		switch {
		case a != nil && len(a.IncludeUserActions) > 0:
			return outcome{match: no, reason: "apps: targets user actions (" + strings.Join(a.IncludeUserActions, ", ") + "), not sign-ins to apps"}
		case a != nil && len(a.IncludeAuthenticationContextClassReferences) > 0:
			return outcome{match: no, reason: "apps: targets authentication contexts (" + strings.Join(a.IncludeAuthenticationContextClassReferences, ", ") + "), not plain sign-ins"}
		}
		return outcome{match: no, reason: "apps: no apps targeted"}
	}
	if containsFold(a.IncludeApplications, appsNone) && len(a.IncludeApplications) == 1 {
		return outcome{match: no, reason: "apps: includes no apps (None)"}
	}
	best := outcome{match: no}
	for _, app := range e.apps {
		o := appMatch(a, app)
		if o.match > best.match {
			best = o
		}
		if best.match == yes {
			break
		}
	}
	if best.match == no {
		return outcome{match: no, reason: e.noApps}
	}
	if a.ApplicationFilter != nil && strings.TrimSpace(a.ApplicationFilter.Rule) != "" {
		return outcome{match: unknown, reason: best.reason + "; an application filter (" + a.ApplicationFilter.Mode + ": " + a.ApplicationFilter.Rule + ") depends on app attributes not known here", facts: []string{"the app's attributes (an application filter)"}}
	}
	return best
}

// resolvedApp is a scenario resource with what the catalog says of it.
type resolvedApp struct {
	id, name string
	groups   []string
	known    bool
}

// appMatch decides whether the policy targets one resource app.
func appMatch(a *ApplicationsCondition, app resolvedApp) outcome {
	name := app.name
	inGroup := func(list []string) (tri, string) {
		for _, v := range list {
			v = strings.TrimSpace(v)
			switch {
			case strings.EqualFold(v, app.id):
				return yes, name
			case strings.EqualFold(v, groupOffice365) || strings.EqualFold(v, groupAdminPortals):
				if containsFold(app.groups, v) {
					return yes, v + " (" + name + ")"
				}
				if !app.known {
					return unknown, v
				}
			}
		}
		return no, ""
	}
	var inc tri
	var via string
	if containsFold(a.IncludeApplications, appsAll) {
		inc, via = yes, "all cloud apps"
	} else {
		inc, via = inGroup(a.IncludeApplications)
	}
	if inc == no {
		return outcome{match: no}
	}
	exc, exVia := inGroup(a.ExcludeApplications)
	switch {
	case exc == yes:
		return outcome{match: no}
	case exc == unknown:
		return outcome{match: unknown, reason: "apps: includes " + via + "; whether " + name + " is in the excluded " + exVia + " is not known", facts: []string{"whether " + name + " is in " + exVia}}
	case inc == unknown:
		return outcome{match: unknown, reason: "apps: includes " + via + "; whether " + name + " belongs to it is not known", facts: []string{"whether " + name + " is in " + via}}
	}
	return outcome{match: yes, reason: "apps: includes " + via}
}

func (e *evaluator) clientApps(c *Conditions) outcome {
	types := c.ClientAppTypes
	if len(types) == 0 || containsFold(types, clientAll) {
		return outcome{match: yes}
	}
	if e.sc.ClientType != "" {
		if containsFold(types, e.sc.ClientType) {
			return outcome{match: yes, reason: "client apps: includes " + e.sc.ClientType}
		}
		return outcome{match: no, reason: "client apps: targets " + strings.Join(types, ", ") + ", not " + e.sc.ClientType}
	}
	browser, modern := containsFold(types, ClientBrowser), containsFold(types, ClientMobileDesktop)
	switch {
	case browser && modern:
		return outcome{match: yes, reason: "client apps: includes browsers and modern clients"}
	case browser || modern:
		return outcome{match: unknown, reason: "client apps: targets " + strings.Join(types, ", ") + " only; whether the partner used a browser or a desktop client is not known", facts: []string{"the client (a browser or a desktop app)"}}
	}
	return outcome{match: no, reason: "client apps: targets legacy authentication clients only (" + strings.Join(types, ", ") + ")"}
}

func (e *evaluator) platforms(c *Conditions) outcome {
	pc := c.Platforms
	if pc == nil || len(pc.IncludePlatforms) == 0 {
		return outcome{match: yes}
	}
	incAll := containsFold(pc.IncludePlatforms, platformAll)
	if e.platform == "" {
		if incAll && len(pc.ExcludePlatforms) == 0 {
			return outcome{match: yes}
		}
		return outcome{match: unknown, reason: "platforms: includes " + strings.Join(pc.IncludePlatforms, ", ") + excludeText(pc.ExcludePlatforms) + "; the device platform is not known", facts: []string{"the device platform"}}
	}
	if containsFold(pc.ExcludePlatforms, e.platform) {
		return outcome{match: no, reason: "platforms: excludes " + e.platform}
	}
	if incAll || containsFold(pc.IncludePlatforms, e.platform) {
		return outcome{match: yes, reason: "platforms: includes " + e.platform}
	}
	return outcome{match: no, reason: "platforms: targets " + strings.Join(pc.IncludePlatforms, ", ") + ", not " + e.platform}
}

func excludeText(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return " except " + strings.Join(list, ", ")
}

func (e *evaluator) locationsCond(c *Conditions) outcome {
	lc := c.Locations
	if lc == nil || len(lc.IncludeLocations) == 0 {
		return outcome{match: yes}
	}
	inc, incWhy, incFacts := e.inAny(lc.IncludeLocations)
	exc, excWhy, excFacts := e.inAny(lc.ExcludeLocations)
	m := inc.and(exc.not())
	switch m {
	case yes:
		return outcome{match: yes, reason: "locations: " + incWhy + excIfAny(excWhy)}
	case no:
		if inc == no {
			return outcome{match: no, reason: "locations: " + incWhy}
		}
		return outcome{match: no, reason: "locations: " + excWhy}
	}
	return outcome{match: unknown, reason: "locations: " + incWhy + excIfAny(excWhy), facts: appendNew(incFacts, excFacts...)}
}

func excIfAny(why string) string {
	if why == "" {
		return ""
	}
	return "; excluded: " + why
}

// inAny evaluates "the sign-in comes from one of these locations", with the
// facts an unknown answer depends on.
func (e *evaluator) inAny(refs []string) (tri, string, []string) {
	if len(refs) == 0 {
		return no, "", nil
	}
	m := no
	var why, facts []string
	for _, ref := range refs {
		t, w, f := e.inLocation(ref)
		m = m.or(t)
		why = append(why, w)
		if t == unknown {
			facts = appendNew(facts, f)
		}
	}
	return m, strings.Join(why, ", "), facts
}

func (e *evaluator) inLocation(ref string) (tri, string, string) {
	ref = strings.TrimSpace(ref)
	switch {
	case strings.EqualFold(ref, locationAll):
		return yes, "any location", ""
	case strings.EqualFold(ref, locationAllTrusted):
		switch e.trustedIP {
		case yes:
			return yes, "trusted locations (the IP " + e.sc.IP.String() + " is in one)", ""
		case no:
			if e.sc.IP.IsValid() {
				return no, "trusted locations (the IP " + e.sc.IP.String() + " is in none)", ""
			}
			return no, "trusted locations (the tenant has none)", ""
		}
		if e.locations == nil {
			return unknown, "trusted locations (named locations not read)", "the tenant's named locations (not read)"
		}
		return unknown, "trusted locations (whether the partner's IP is in one is not known)", "the partner's IP address"
	case ref == mfaTrustedIPsID:
		return unknown, "MFA trusted IPs (not readable through Graph)", "the MFA trusted IPs (not readable through Graph)"
	}
	if e.locations == nil {
		return unknown, "named location " + ref + " (named locations not read)", "the tenant's named locations (not read)"
	}
	l, ok := e.locations[strings.ToLower(ref)]
	if !ok {
		return unknown, "named location " + ref + " (not in the tenant's list)", "named location " + ref + " (not in the tenant's list)"
	}
	name := "named location " + quoteName(l.DisplayName)
	if l.IsCountry() {
		if e.sc.Country == "" {
			return unknown, name + " (countries; the partner's country is not known)", "the partner's country"
		}
		if containsFold(l.CountriesAndRegions, e.sc.Country) {
			return yes, name + " (includes " + e.sc.Country + ")", ""
		}
		return no, name + " (does not include " + e.sc.Country + ")", ""
	}
	if !e.sc.IP.IsValid() {
		return unknown, name + " (the partner's IP is not known)", "the partner's IP address"
	}
	if l.Contains(e.sc.IP) {
		return yes, name + " (contains " + e.sc.IP.String() + ")", ""
	}
	return no, name + " (does not contain " + e.sc.IP.String() + ")", ""
}

// appendNew appends the items of add that list does not hold yet.
func appendNew(list []string, add ...string) []string {
	for _, a := range add {
		if a != "" && !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}

func quoteName(s string) string { return "\u201c" + s + "\u201d" }

func (e *evaluator) deviceFilter(c *Conditions) outcome {
	if c.Devices == nil || c.Devices.DeviceFilter == nil || strings.TrimSpace(c.Devices.DeviceFilter.Rule) == "" {
		return outcome{match: yes}
	}
	f := c.Devices.DeviceFilter
	return outcome{match: unknown, reason: "devices: a device filter (" + f.Mode + ": " + f.Rule + ") depends on device attributes not known here", facts: []string{"the device's attributes (a device filter)"}}
}

func (e *evaluator) risk(c *Conditions) outcome {
	check := func(name string, levels []string) (outcome, bool) {
		if len(levels) == 0 || containsFold(levels, riskNone) {
			return outcome{}, false
		}
		return outcome{match: no, reason: name + ": targets " + strings.Join(levels, ", ") + " risk; the partner's sign-in carries none"}, true
	}
	if o, ok := check("sign-in risk", c.SignInRiskLevels); ok {
		return o
	}
	if o, ok := check("user risk", c.UserRiskLevels); ok {
		return o
	}
	if o, ok := check("insider risk", splitFlags(c.InsiderRiskLevels)); ok {
		return o
	}
	if len(c.ServicePrincipalRiskLevels) > 0 && !containsFold(c.ServicePrincipalRiskLevels, riskNone) {
		return outcome{match: no, reason: "service principal risk: applies to workload identities only"}
	}
	return outcome{match: yes}
}

func (e *evaluator) authFlows(c *Conditions) outcome {
	if c.AuthenticationFlows == nil || strings.TrimSpace(c.AuthenticationFlows.TransferMethods) == "" {
		return outcome{match: yes}
	}
	methods := c.AuthenticationFlows.TransferMethods
	if e.sc.DeviceCodeFlow && hasFlag(methods, transferDeviceCode) {
		return outcome{match: yes, reason: "authentication flows: includes the device code flow the partner used"}
	}
	return outcome{match: no, reason: "authentication flows: targets " + methods + " only, which the partner's sign-in did not use"}
}

// grant decides whether the partner can satisfy the policy's controls.
func (e *evaluator) grant(p *Policy) outcome {
	g := p.GrantControls
	var controls []outcome
	if g != nil {
		for _, c := range g.BuiltInControls {
			controls = append(controls, e.builtIn(strings.TrimSpace(c)))
		}
		if len(g.CustomAuthenticationFactors) > 0 {
			controls = append(controls, outcome{match: no, reason: "a third-party MFA custom control (" + strings.Join(g.CustomAuthenticationFactors, ", ") + "), which partner users cannot complete in the customer tenant"})
		}
		if len(g.TermsOfUse) > 0 {
			controls = append(controls, outcome{match: unknown, reason: "terms of use acceptance (whether the partner accepted them is not known)", facts: []string{"whether the partner's staff accepted the terms of use"}})
		}
		if s := g.AuthenticationStrength; s != nil && (s.ID != "" || s.DisplayName != "") {
			if strings.EqualFold(s.ID, MFAStrengthID) {
				controls = append(controls, outcome{match: yes, reason: "the built-in Multifactor authentication strength, which the partner's home-tenant MFA satisfies"})
			} else {
				name := s.DisplayName
				if name == "" {
					name = s.ID
				}
				controls = append(controls, outcome{match: unknown, reason: "authentication strength " + quoteName(name) + " (whether the partner's MFA method meets it is not known)", facts: []string{"whether the partner's MFA method meets the authentication strength " + quoteName(name)}})
			}
		}
	}
	if len(controls) == 0 {
		if p.HasSessionControls() {
			return outcome{match: yes, reason: "grant: session controls only, which never block"}
		}
		return outcome{match: yes, reason: "grant: no controls"}
	}
	if len(controls) == 1 {
		return outcome{match: controls[0].match, reason: "grant: requires " + controls[0].reason, facts: controls[0].facts}
	}
	and := g != nil && strings.EqualFold(strings.TrimSpace(g.Operator), operatorAND)
	m := controls[0].match
	parts := make([]string, len(controls))
	var facts []string
	for i, c := range controls {
		if and {
			m = m.and(c.match)
		} else {
			m = m.or(c.match)
		}
		parts[i] = c.reason
		if c.match == unknown {
			facts = appendNew(facts, c.facts...)
		}
	}
	if and {
		return outcome{match: m, reason: "grant: requires all of: " + strings.Join(parts, "; "), facts: facts}
	}
	return outcome{match: m, reason: "grant: requires one of: " + strings.Join(parts, "; "), facts: facts}
}

func (e *evaluator) builtIn(c string) outcome {
	trust := e.sc.CrossTenant
	accepts := func(f func(*InboundTrust) *bool) bool {
		if trust == nil || trust.InboundTrust == nil {
			return false
		}
		v := f(trust.InboundTrust)
		return v != nil && *v
	}
	switch strings.ToLower(c) {
	case strings.ToLower(controlBlock):
		return outcome{match: no, reason: "block access"}
	case strings.ToLower(controlMFA):
		return outcome{match: yes, reason: "multifactor authentication, which the partner's home-tenant MFA satisfies"}
	case strings.ToLower(controlCompliant):
		if accepts(func(t *InboundTrust) *bool { return t.IsCompliantDeviceAccepted }) {
			return outcome{match: unknown, reason: "a compliant device; cross-tenant settings trust the partner's compliant devices, but whether this one is compliant is not known", facts: []string{"whether the partner's device is compliant"}}
		}
		return outcome{match: no, reason: "a compliant device, which the partner's device (not enrolled in the customer tenant) cannot be"}
	case strings.ToLower(controlDomainJoined):
		if accepts(func(t *InboundTrust) *bool { return t.IsHybridAzureADJoinedDeviceAccepted }) {
			return outcome{match: unknown, reason: "a hybrid-joined device; cross-tenant settings trust the partner's hybrid-joined devices, but whether this one is is not known", facts: []string{"whether the partner's device is hybrid joined"}}
		}
		return outcome{match: no, reason: "a hybrid Microsoft Entra joined device, which the partner's device (not joined to the customer tenant) cannot be"}
	case strings.ToLower(controlApprovedApp), strings.ToLower(controlCompliantApp):
		switch {
		case desktopPlatform(e.platform):
			return outcome{match: no, reason: c + " (app protection), which cannot be satisfied on " + e.platform}
		case e.platform == "":
			return outcome{match: unknown, reason: c + " (app protection), which cannot be satisfied on desktop platforms; the platform is not known", facts: []string{"the device platform"}}
		}
		return outcome{match: unknown, reason: c + " (app protection) on " + e.platform + "; whether the partner's app is protected is not known", facts: []string{"whether the partner's app is protected"}}
	case strings.ToLower(controlPasswordChange):
		return outcome{match: no, reason: "a password change, which a service provider user cannot make in the customer tenant"}
	}
	return outcome{match: unknown, reason: "the control " + c + ", which this engine does not know", facts: []string{"the control " + c}}
}

// ipOf parses an IP address, returning the zero Addr when s is not one.
func ipOf(s string) netip.Addr {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}
	}
	return a
}

// reportOnlyReason is the first reason of a report-only policy; the sign-in
// log may revise wouldBe, and the reason with it.
func reportOnlyReason(wouldBe Effect) string {
	return "state: report-only, never enforced; would be " + string(wouldBe)
}
