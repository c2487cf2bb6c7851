package graphclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/auditlogs"
	"github.com/microsoftgraph/msgraph-sdk-go/identity"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/tenantrelationships"

	"github.com/cacheck/ca-check/diagnose"
)

// Permissions each read needs (application permissions), for messages.
const (
	permPolicies   = "Policy.Read.All"
	permSignIns    = "AuditLog.Read.All"
	permGDAP       = "DelegatedAdminRelationship.Read.All"
	permWrite      = "Policy.ReadWrite.ConditionalAccess"
	permDomain     = "CrossTenantInformation.ReadBasic.All"
	permUsers      = "User.Read.All"
	permRoles      = "RoleManagement.Read.Directory"
	signInPageSize = 50
)

// MissingSignInPending starts the Evidence.Missing line written when the
// sign-in log has no entry yet for the scenario's correlation ID.
const MissingSignInPending = "sign-in log: no entry for correlation ID "

// SignInPending reports whether missing (Evidence.Missing or
// Diagnosis.Missing) says the sign-in log entry has not arrived yet, so a
// caller can offer to re-check in a few minutes.
func SignInPending(missing []string) bool {
	return slices.ContainsFunc(missing, func(s string) bool { return strings.HasPrefix(s, MissingSignInPending) })
}

// Diagnose gathers the evidence and evaluates it: Gather, then
// diagnose.Evaluate.
func (c *Client) Diagnose(ctx context.Context, tenant string, sc diagnose.Scenario) (*diagnose.Diagnosis, error) {
	ev, sc, err := c.Gather(ctx, tenant, sc)
	if err != nil {
		return nil, err
	}
	return diagnose.Evaluate(ev, sc), nil
}

// Gather reads the evidence for sc from a customer tenant (ID or verified
// domain; a customer name is resolved first), in one parallel wave:
// policies, named locations, sign-in log entries, cross-tenant settings for
// the partner, Microsoft's What If, and the partner's GDAP relationship.
// The GDAP roles are those of the relationship's access assignments, which
// are read by relationship ID: in the same wave for the relationships this
// Client saw active last time (an earlier diagnosis of the customer, or
// Customers), otherwise in a second round once the list has named them. It
// returns the scenario with the GDAP roles and the cross-tenant trust filled
// in, and AllTenantsFix set when the deployment is configured for it. Only a failure to read the policies fails it; whatever else could not
// be read is said in Evidence.Missing.
func (c *Client) Gather(ctx context.Context, tenant string, sc diagnose.Scenario) (diagnose.Evidence, diagnose.Scenario, error) {
	return c.gather(ctx, tenant, sc, reads{signIns: true, whatIf: true})
}

// reads says what gather reads besides the policies, the named locations
// and the cross-tenant settings, which every diagnosis needs.
type reads struct {
	signIns, whatIf bool
	// locationsIfNeeded reads the named locations only after the
	// policies, and only when they can change the evaluation
	// (diagnose.NamedLocationsMatter): a round trip later, but one
	// Conditional Access read fewer for most tenants.
	locationsIfNeeded bool
	// rels, when not nil, are the partner's GDAP relationships as already
	// listed (a fleet scan lists them once): not read again per tenant.
	rels []diagnose.Relationship
}

func (c *Client) gather(ctx context.Context, tenant string, sc diagnose.Scenario, r reads) (diagnose.Evidence, diagnose.Scenario, error) {
	if sc.PartnerTenantID == "" {
		sc.PartnerTenantID = c.PartnerTenantID()
	}
	// The plans follow the deployment's choice, which Apply enforces.
	sc.AllTenantsFix = sc.AllTenantsFix || c.cfg.AllTenantsFix
	tenant = strings.TrimSpace(tenant)
	if !IsGUID(tenant) && !isDomain(tenant) {
		t, err := c.ResolveTenant(ctx, tenant)
		if err != nil {
			return diagnose.Evidence{}, sc, err
		}
		tenant = t.ID
	}
	cn, err := c.conn(tenant)
	if err != nil {
		return diagnose.Evidence{}, sc, err
	}
	partner, err := c.conn(c.cfg.PartnerTenantID)
	if err != nil {
		return diagnose.Evidence{}, sc, err
	}

	var (
		wg                   sync.WaitGroup
		policies             []diagnose.Policy
		policiesErr          error
		locations            []diagnose.NamedLocation
		locationsErr         error
		signIns              []diagnose.SignIn
		signInsErr           error
		xtPartner, xtDefault *diagnose.CrossTenantPartner
		xtPartnerErr         error
		xtDefaultErr         error
		whatIf               *diagnose.WhatIf
		whatIfErr            error
		rels                 []diagnose.Relationship
		relsErr              error
		assigned             = map[string][]gdapAssignment{} // prefetched, by relationship ID
		assignedMu           sync.Mutex
	)
	if r.locationsIfNeeded {
		wg.Go(func() {
			policies, policiesErr = c.readPolicies(ctx, cn)
			if policiesErr == nil && diagnose.NamedLocationsMatter(policies, sc) {
				locations, locationsErr = c.readNamedLocations(ctx, cn)
			}
		})
	} else {
		wg.Go(func() { policies, policiesErr = c.readPolicies(ctx, cn) })
		wg.Go(func() { locations, locationsErr = c.readNamedLocations(ctx, cn) })
	}
	if r.signIns {
		wg.Go(func() { signIns, signInsErr = c.readSignIns(ctx, cn, sc) })
	}
	// The partner's own settings and the default are read together: when
	// the partner has none (404) the default applies, and asking for it only
	// then would cost a second round trip.
	wg.Go(func() { xtPartner, xtPartnerErr = c.readCrossTenant(ctx, cn, sc.PartnerTenantID) })
	wg.Go(func() { xtDefault, xtDefaultErr = c.readCrossTenant(ctx, cn, "") })
	if r.whatIf {
		wg.Go(func() { whatIf, whatIfErr = c.whatIf(ctx, cn, sc) })
	}
	// GDAP lives in the partner tenant. For a domain the customer's ID is
	// known only from its token, so all relationships are read and filtered
	// afterwards rather than waiting for the token.
	if r.rels != nil {
		rels = r.rels
	} else {
		wg.Go(func() {
			customer := ""
			if IsGUID(tenant) {
				customer = tenant
			}
			rels, relsErr = c.relationships(ctx, partner, customer)
		})
	}
	// The access assignments of the relationships active last time, read
	// now; the list above says whether they still are.
	for _, id := range c.knownRelationships(tenant) {
		wg.Go(func() {
			as, err := c.accessAssignments(ctx, partner, id)
			if err == nil {
				assignedMu.Lock()
				assigned[id] = as
				assignedMu.Unlock()
			}
		})
	}
	wg.Wait()

	tenantID := strings.ToLower(tenant)
	if !IsGUID(tenant) {
		tenantID = cn.cred.TenantID()
		c.alias(cn, tenantID)
	}
	if policiesErr != nil {
		return diagnose.Evidence{}, sc, c.fail(op{tenant, "the Conditional Access policies", permPolicies}, policiesErr)
	}
	ev := diagnose.Evidence{Policies: policies, Tenant: &diagnose.Tenant{ID: tenantID}}
	if !IsGUID(tenant) {
		ev.Tenant.DefaultDomain = tenant
	}
	missing := func(what string, err error) {
		ev.Missing = append(ev.Missing, what+": "+diagnose.ErrorMessage(err))
	}

	if locationsErr != nil {
		missing("named locations", c.fail(op{tenant, "the named locations", permPolicies}, locationsErr))
	} else {
		ev.NamedLocations = locations
	}

	switch {
	case !r.signIns:
	case signInsErr != nil:
		missing("sign-in log", c.fail(op{tenant, "the sign-in logs", permSignIns}, signInsErr))
	case sc.CorrelationID != "" && !slices.ContainsFunc(signIns, func(s diagnose.SignIn) bool { return strings.EqualFold(s.CorrelationID, sc.CorrelationID) }):
		when := "the error time is unknown"
		if !sc.ErrorTime.IsZero() {
			when = fmt.Sprintf("the error was %d minutes ago", int(c.now().Sub(sc.ErrorTime).Minutes()))
		}
		ev.Missing = append(ev.Missing, fmt.Sprintf("%s%s yet (%s; entries can take up to ~5–10 minutes); re-check", MissingSignInPending, sc.CorrelationID, when))
		ev.SignIns = signIns
	default:
		ev.SignIns = signIns
	}

	xtOp := op{tenant, "the cross-tenant access settings", permPolicies}
	switch {
	case xtPartnerErr == nil:
		if xtPartner.InboundTrust == nil && xtDefaultErr == nil {
			// A partner configuration without inbound trust inherits the default's.
			xtPartner.InboundTrust = xtDefault.InboundTrust
		}
		if xtPartner.TenantID == "" {
			xtPartner.TenantID = sc.PartnerTenantID
		}
		sc.CrossTenant = xtPartner
	case !errNotFound(xtPartnerErr):
		missing("cross-tenant access settings", c.fail(xtOp, xtPartnerErr))
	case xtDefaultErr == nil:
		// No settings for the partner: the default applies to it.
		xtDefault.TenantID = sc.PartnerTenantID
		sc.CrossTenant = xtDefault
	default:
		missing("cross-tenant access settings", c.fail(xtOp, xtDefaultErr))
	}

	switch {
	case !r.whatIf:
	case whatIfErr != nil:
		ev.Missing = append(ev.Missing, "Microsoft's What If evaluation: "+c.whatIfMissing(tenant, whatIfErr))
	default:
		ev.WhatIf = whatIf
	}

	if relsErr != nil {
		missing("GDAP relationship", c.fail(op{c.PartnerTenantID(), "the partner's GDAP relationships", permGDAP}, relsErr))
	} else {
		c.applyGDAP(ctx, partner, &ev, &sc, rels, tenantID, assigned)
		c.rememberRelationships(rels, tenantID, tenant)
	}
	return ev, sc, nil
}

// applyGDAP picks the customer's relationships and fills the scenario's
// roles from the access assignments of the active ones: the roles granted
// to the partner's security groups, not those the relationship asked for.
// assigned holds the assignments read already, by relationship ID; the
// others are read now.
func (c *Client) applyGDAP(ctx context.Context, partner *conn, ev *diagnose.Evidence, sc *diagnose.Scenario, all []diagnose.Relationship, tenantID string, assigned map[string][]gdapAssignment) {
	now := c.now()
	var mine []diagnose.Relationship
	for _, r := range all {
		if strings.EqualFold(r.CustomerTenantID, tenantID) {
			mine = append(mine, r)
		}
	}
	if len(mine) == 0 {
		ev.Missing = append(ev.Missing, fmt.Sprintf("GDAP relationship: the partner has no GDAP relationship with tenant %s, so its staff hold no admin roles there; create one in Partner Center (the roles in policies stay unknown meanwhile)", tenantID))
		return
	}
	// Best first: active, then the latest end.
	slices.SortStableFunc(mine, func(a, b diagnose.Relationship) int {
		if a.Active(now) != b.Active(now) {
			if a.Active(now) {
				return -1
			}
			return 1
		}
		return b.EndDateTime.Compare(a.EndDateTime)
	})
	best := mine[0]
	ev.Relationship = &best
	if ev.Tenant != nil && ev.Tenant.DisplayName == "" {
		ev.Tenant.DisplayName = best.CustomerName
	}
	if !best.Active(now) {
		end := ""
		if !best.EndDateTime.IsZero() {
			end = " (ended " + best.EndDateTime.UTC().Format("2006-01-02") + ")"
		}
		ev.Missing = append(ev.Missing, fmt.Sprintf("GDAP relationship: no active relationship with tenant %s; the latest, %q, is %s%s: renew it in Partner Center, or the partner's staff cannot sign in there at all", tenantID, best.DisplayName, best.Status, end))
		return
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		readErr error
		active  []diagnose.Relationship
	)
	for _, r := range mine {
		if !r.Active(now) {
			continue
		}
		active = append(active, r)
		if _, ok := assigned[r.ID]; ok {
			continue
		}
		// Not prefetched: a second round, only when a relationship is active.
		wg.Go(func() {
			as, err := c.accessAssignments(ctx, partner, r.ID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				readErr = err
				return
			}
			assigned[r.ID] = as
		})
	}
	wg.Wait()
	if readErr != nil {
		ev.Missing = append(ev.Missing, "GDAP access assignments: "+diagnose.ErrorMessage(c.fail(op{c.PartnerTenantID(), "the access assignments of the partner's GDAP relationship with tenant " + tenantID, permGDAP}, readErr)))
		return
	}
	// ca-check does not know which security group the engineer is in: the
	// roles are known only when every active assignment grants the same.
	var sets [][]string
	var union []string
	for _, r := range active {
		for _, a := range assigned[r.ID] {
			if !strings.EqualFold(a.Status, "active") {
				continue
			}
			set := a.roles()
			sets = append(sets, set)
			for _, id := range set {
				if !slices.Contains(union, id) {
					union = append(union, id)
				}
			}
		}
	}
	switch {
	case len(sets) == 0:
		sc.Roles, sc.RolesKnown = []string{}, true
		ev.Missing = append(ev.Missing, fmt.Sprintf("GDAP access assignments: the relationship %q assigns no roles to any of the partner's security groups yet, so its staff hold no admin roles in tenant %s; assign them in Partner Center", best.DisplayName, tenantID))
	case slices.ContainsFunc(sets[1:], func(s []string) bool { return !sameRoles(s, sets[0]) }):
		names := make([]string, len(union))
		for i, id := range union {
			names[i] = diagnose.RoleName(id)
		}
		ev.Missing = append(ev.Missing, fmt.Sprintf("GDAP roles: the partner's staff hold different roles in tenant %s depending on which of the GDAP relationship's security groups they are in (between them: %s), so the roles a policy targets are not known", tenantID, strings.Join(names, ", ")))
	default:
		sc.Roles, sc.RolesKnown = sets[0], true
	}
}

// sameRoles reports whether two role sets are equal, in any order.
func sameRoles(a, b []string) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(id string) bool { return !slices.Contains(b, id) })
}

// gdapAssignment is the part of delegatedAdminAccessAssignment we read.
type gdapAssignment struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	AccessDetails struct {
		UnifiedRoles []struct {
			RoleDefinitionID string `json:"roleDefinitionId"`
		} `json:"unifiedRoles"`
	} `json:"accessDetails"`
}

// roles are the assignment's role template IDs, lower case, each once.
func (a gdapAssignment) roles() []string {
	out := []string{}
	for _, r := range a.AccessDetails.UnifiedRoles {
		if id := strings.ToLower(strings.TrimSpace(r.RoleDefinitionID)); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// accessAssignments reads a GDAP relationship's access assignments: which
// of the partner's security groups hold which roles.
func (c *Client) accessAssignments(ctx context.Context, partner *conn, relationshipID string) ([]gdapAssignment, error) {
	ri, err := partner.graph.TenantRelationships().DelegatedAdminRelationships().ByDelegatedAdminRelationshipId(relationshipID).AccessAssignments().ToGetRequestInformation(ctx, nil)
	if err != nil {
		return nil, err
	}
	items, err := c.list(ctx, partner, ri)
	if err != nil {
		return nil, err
	}
	out := make([]gdapAssignment, 0, len(items))
	for _, raw := range items {
		var a gdapAssignment
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("graphclient: malformed GDAP access assignment: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}

// knownRelationships returns the IDs of the customer's active GDAP
// relationships as last read, for tenant as given (ID or domain).
func (c *Client) knownRelationships(tenant string) []string {
	c.gdapMu.Lock()
	defer c.gdapMu.Unlock()
	return slices.Clone(c.gdapIDs[strings.ToLower(strings.TrimSpace(tenant))])
}

// rememberRelationships keeps the IDs of a customer's active
// relationships among all, under its tenant ID and the other names given
// (a domain).
func (c *Client) rememberRelationships(all []diagnose.Relationship, tenantID string, names ...string) {
	if tenantID == "" {
		return
	}
	now := c.now()
	ids := []string{}
	for _, r := range all {
		if strings.EqualFold(r.CustomerTenantID, tenantID) && r.Active(now) {
			ids = append(ids, r.ID)
		}
	}
	c.gdapMu.Lock()
	defer c.gdapMu.Unlock()
	for _, k := range append(names, tenantID) {
		if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
			c.gdapIDs[k] = ids
		}
	}
}

func (c *Client) readPolicies(ctx context.Context, cn *conn) ([]diagnose.Policy, error) {
	ri, err := cn.graph.Identity().ConditionalAccess().Policies().ToGetRequestInformation(ctx, nil)
	if err != nil {
		return nil, err
	}
	items, err := c.list(ctx, cn, ri)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return []diagnose.Policy{}, nil
	}
	return diagnose.DecodePolicies(jsonArray(items))
}

func (c *Client) readNamedLocations(ctx context.Context, cn *conn) ([]diagnose.NamedLocation, error) {
	ri, err := cn.graph.Identity().ConditionalAccess().NamedLocations().ToGetRequestInformation(ctx, nil)
	if err != nil {
		return nil, err
	}
	items, err := c.list(ctx, cn, ri)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return []diagnose.NamedLocation{}, nil // read, and none: not "unknown"
	}
	return diagnose.DecodeNamedLocations(jsonArray(items))
}

// signInFilter is the $filter for the scenario's sign-in log entries.
func (c *Client) signInFilter(sc diagnose.Scenario) string {
	if sc.CorrelationID != "" {
		return "correlationId eq '" + odataString(sc.CorrelationID) + "'"
	}
	since := c.now().Add(-c.cfg.SignInLookback).UTC().Format(time.RFC3339)
	return fmt.Sprintf("createdDateTime ge %s and crossTenantAccessType eq 'serviceProvider' and homeTenantId eq '%s' and status/errorCode ne 0",
		since, odataString(strings.ToLower(sc.PartnerTenantID)))
}

// readSignIns reads one bounded page: the newest entries are the evidence.
func (c *Client) readSignIns(ctx context.Context, cn *conn, sc diagnose.Scenario) ([]diagnose.SignIn, error) {
	filter := c.signInFilter(sc)
	top := int32(signInPageSize)
	// send adds Prefer: include-unknown-enum-members, without which Graph
	// hides results such as reportOnlyFailure.
	ri, err := cn.graph.AuditLogs().SignIns().ToGetRequestInformation(ctx, &auditlogs.SignInsRequestBuilderGetRequestConfiguration{
		QueryParameters: &auditlogs.SignInsRequestBuilderGetQueryParameters{Filter: &filter, Top: &top},
	})
	if err != nil {
		return nil, err
	}
	res, err := c.send(ctx, cn, ri)
	if err != nil {
		return nil, err
	}
	var page struct {
		Value []json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(res.body, &page); err != nil {
		return nil, fmt.Errorf("graphclient: malformed sign-in page: %w", err)
	}
	if len(page.Value) == 0 {
		return nil, nil
	}
	return diagnose.DecodeSignIns(jsonArray(page.Value))
}

// readCrossTenant reads the customer's cross-tenant access settings for the
// partner, or the default settings when partnerID is "". A partner with no
// settings of its own answers 404.
func (c *Client) readCrossTenant(ctx context.Context, cn *conn, partnerID string) (*diagnose.CrossTenantPartner, error) {
	xt := cn.graph.Policies().CrossTenantAccessPolicy()
	var ri *abs.RequestInformation
	var err error
	if partnerID == "" {
		ri, err = xt.DefaultEscaped().ToGetRequestInformation(ctx, nil)
	} else {
		ri, err = xt.Partners().ByCrossTenantAccessPolicyConfigurationPartnerTenantId(partnerID).ToGetRequestInformation(ctx, nil)
	}
	if err != nil {
		return nil, err
	}
	res, err := c.send(ctx, cn, ri)
	if err != nil {
		return nil, err
	}
	var out diagnose.CrossTenantPartner
	if err := json.Unmarshal(res.body, &out); err != nil {
		return nil, fmt.Errorf("graphclient: malformed cross-tenant settings: %w", err)
	}
	return &out, nil
}

// whatIfApp maps the scenario's apps to what the What If API accepts: app
// IDs, the admin portals standing for the Microsoft 365 admin center.
func whatIfApps(sc diagnose.Scenario) []string {
	apps := sc.Apps
	if len(apps) == 0 {
		apps = diagnose.DefaultApps()
	}
	out := make([]string, 0, len(apps))
	for _, a := range apps {
		if a == diagnose.AppAdminPortals {
			a = diagnose.AppOffice365Portal
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// whatIf asks Microsoft's own evaluation for a service provider user of the
// partner's tenant. The request body is built from the SDK's models: every
// value in it is one we set, so no enum is lost.
func (c *Client) whatIf(ctx context.Context, cn *conn, sc diagnose.Scenario) (*diagnose.WhatIf, error) {
	body := identity.NewConditionalAccessEvaluatePostRequestBody()
	who := models.NewUserSignIn()
	partner := strings.ToLower(sc.PartnerTenantID)
	who.SetExternalTenantId(&partner)
	who.SetExternalUserType(new(models.ConditionalAccessGuestOrExternalUserTypes(models.SERVICEPROVIDER_CONDITIONALACCESSGUESTOREXTERNALUSERTYPES)))
	body.SetSignInIdentity(who)
	app := models.NewApplicationContext()
	app.SetIncludeApplications(whatIfApps(sc))
	body.SetSignInContext(app)
	cond := models.NewSignInConditions()
	if v, _ := models.ParseConditionalAccessClientApp(sc.ClientType); v != nil && sc.ClientType != "" {
		cond.SetClientAppType(v.(*models.ConditionalAccessClientApp))
	}
	if v, _ := models.ParseConditionalAccessDevicePlatform(sc.Platform); v != nil && sc.Platform != "" {
		cond.SetDevicePlatform(v.(*models.ConditionalAccessDevicePlatform))
	}
	if sc.IP.IsValid() {
		cond.SetIpAddress(new(sc.IP.String()))
	}
	if sc.Country != "" {
		cond.SetCountry(new(sc.Country))
	}
	body.SetSignInConditions(cond)
	body.SetAppliedPoliciesOnly(new(false))
	ri, err := cn.graph.Identity().ConditionalAccess().Evaluate().ToPostRequestInformation(ctx, body, nil)
	if err != nil {
		return nil, err
	}
	// What If reads: a 500 or a dropped connection may be retried.
	ri.AddRequestOptions([]abs.RequestOption{readOnly{}})
	res, err := c.send(ctx, cn, ri)
	if err != nil {
		return nil, err
	}
	var page struct {
		Value []struct {
			ID            string `json:"id"`
			DisplayName   string `json:"displayName"`
			PolicyApplies bool   `json:"policyApplies"`
			GrantControls *struct {
				BuiltInControls []string `json:"builtInControls"`
			} `json:"grantControls"`
		} `json:"value"`
	}
	if err := json.Unmarshal(res.body, &page); err != nil {
		return nil, fmt.Errorf("graphclient: malformed What If answer: %w", err)
	}
	w := &diagnose.WhatIf{Policies: []diagnose.WhatIfPolicy{}}
	for _, p := range page.Value {
		blocks := p.PolicyApplies && p.GrantControls != nil &&
			slices.ContainsFunc(p.GrantControls.BuiltInControls, func(s string) bool { return strings.EqualFold(s, "block") })
		w.Policies = append(w.Policies, diagnose.WhatIfPolicy{ID: p.ID, DisplayName: p.DisplayName, Applies: p.PolicyApplies, Blocks: blocks})
	}
	return w, nil
}

// whatIfMissing says why What If is absent. 400/403/404 mean the tenant
// does not offer it (or the app may not use it): never an error.
func (c *Client) whatIfMissing(tenant string, err error) string {
	if ge := graphError(err); ge != nil {
		switch ge.Status {
		case 400, 404:
			return "not available in this tenant"
		case 403:
			return "not available in this tenant (Graph refused it: it needs " + permPolicies + " and Entra ID P1)"
		}
	}
	return diagnose.ErrorMessage(c.fail(op{tenant, "Microsoft's What If evaluation", permPolicies}, err))
}

// gdapRelationship is the part of delegatedAdminRelationship we read.
type gdapRelationship struct {
	ID          string     `json:"id"`
	DisplayName string     `json:"displayName"`
	Status      string     `json:"status"`
	EndDateTime *time.Time `json:"endDateTime"`
	Customer    struct {
		TenantID    string `json:"tenantId"`
		DisplayName string `json:"displayName"`
	} `json:"customer"`
	AccessDetails struct {
		UnifiedRoles []struct {
			RoleDefinitionID string `json:"roleDefinitionId"`
		} `json:"unifiedRoles"`
	} `json:"accessDetails"`
}

func (g gdapRelationship) relationship() diagnose.Relationship {
	r := diagnose.Relationship{ID: g.ID, DisplayName: g.DisplayName, CustomerTenantID: strings.ToLower(g.Customer.TenantID), CustomerName: g.Customer.DisplayName, Status: g.Status}
	if g.EndDateTime != nil {
		r.EndDateTime = *g.EndDateTime
	}
	for _, role := range g.AccessDetails.UnifiedRoles {
		if id := strings.ToLower(role.RoleDefinitionID); id != "" && !slices.Contains(r.Roles, id) {
			r.Roles = append(r.Roles, id)
		}
	}
	return r
}

// relationships reads the partner's GDAP relationships, with one customer's
// alone when customerID is set.
func (c *Client) relationships(ctx context.Context, partner *conn, customerID string) ([]diagnose.Relationship, error) {
	cfg := &tenantrelationships.DelegatedAdminRelationshipsRequestBuilderGetRequestConfiguration{}
	if customerID != "" {
		f := "customer/tenantId eq '" + odataString(strings.ToLower(customerID)) + "'"
		cfg.QueryParameters = &tenantrelationships.DelegatedAdminRelationshipsRequestBuilderGetQueryParameters{Filter: &f}
	}
	ri, err := partner.graph.TenantRelationships().DelegatedAdminRelationships().ToGetRequestInformation(ctx, cfg)
	if err != nil {
		return nil, err
	}
	items, err := c.list(ctx, partner, ri)
	if err != nil {
		return nil, err
	}
	out := make([]diagnose.Relationship, 0, len(items))
	for _, raw := range items {
		var g gdapRelationship
		if err := json.Unmarshal(raw, &g); err != nil {
			return nil, fmt.Errorf("graphclient: malformed GDAP relationship: %w", err)
		}
		out = append(out, g.relationship())
	}
	return out, nil
}

// odataString escapes a value for a quoted OData literal.
func odataString(s string) string { return strings.ReplaceAll(s, "'", "''") }

// errNotFound reports a Graph 404.
func errNotFound(err error) bool {
	ge := graphError(err)
	return ge != nil && ge.Status == 404 && !errors.Is(err, context.DeadlineExceeded)
}
