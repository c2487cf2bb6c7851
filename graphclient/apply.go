package graphclient

import (
	"context"
	"fmt"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"

	"github.com/cacheck/ca-check/diagnose"
)

// PolicyChangedError refuses a write because the policy changed since the
// plan (or since the bot's own write, for a revert). Fresh is the policy as
// it is now, to re-plan from. It carries code ECONFLICT.
type PolicyChangedError struct {
	PolicyID string
	Fresh    diagnose.Policy
	Reason   string
}

func (e *PolicyChangedError) Error() string {
	return fmt.Sprintf("policy %q changed since the plan (%s): nothing was written; re-plan and ask for approval again", label(e.Fresh, e.PolicyID), e.Reason)
}

// Unwrap gives the diagnose code, so diagnose.ErrorCode works.
func (e *PolicyChangedError) Unwrap() error {
	return &diagnose.Error{Code: diagnose.ECONFLICT, Message: e.Error()}
}

func label(p diagnose.Policy, id string) string {
	if p.DisplayName != "" {
		return p.DisplayName
	}
	return id
}

// Apply writes a plan: it re-reads the policy, refuses with a
// *PolicyChangedError when it changed since the plan (modifiedDateTime, or
// an exclusion that no longer equals plan.Before), PATCHes conditions.users
// (as just read, with only excludeGuestsOrExternalUsers set to plan.After),
// reads the policy back, checks that it excludes the partner, and
// re-evaluates it.
func (c *Client) Apply(ctx context.Context, tenantID string, plan diagnose.Plan) (diagnose.Change, error) {
	partner := c.PartnerTenantID()
	if plan.PolicyID == "" {
		return diagnose.Change{}, diagnose.Errorf(diagnose.EINVALID, "the plan names no policy")
	}
	if !plan.NoChange && !plan.After.Excludes(partner) {
		return diagnose.Change{}, diagnose.Errorf(diagnose.EINVALID, "the plan for policy %q does not exclude the partner's service provider users", plan.DisplayName)
	}
	cn, err := c.conn(tenantID)
	if err != nil {
		return diagnose.Change{}, err
	}
	fresh, _, err := c.readPolicy(ctx, cn, plan.PolicyID)
	if err != nil {
		return diagnose.Change{}, err
	}
	current := usersOf(fresh).ExcludeGuestsOrExternalUsers
	switch {
	case !sameTime(plan.ModifiedDateTime, fresh.ModifiedDateTime):
		// A null modifiedDateTime is a policy never edited since its
		// creation: one that has a date now was edited since the plan.
		reason := "modified since"
		if fresh.ModifiedDateTime != nil {
			reason = "modified " + fresh.ModifiedDateTime.UTC().Format("2006-01-02 15:04:05Z")
		}
		return diagnose.Change{}, &PolicyChangedError{PolicyID: plan.PolicyID, Fresh: fresh, Reason: reason}
	case !current.Equal(plan.Before):
		return diagnose.Change{}, &PolicyChangedError{PolicyID: plan.PolicyID, Fresh: fresh, Reason: "its guest or external user exclusion is no longer the one planned from"}
	}
	res := diagnose.Change{PolicyID: fresh.ID, DisplayName: fresh.DisplayName, Before: current, After: current, Policy: fresh}
	if plan.NoChange || current.Excludes(partner) {
		res.NoChange = true
		res.Effect = c.effect(fresh)
		return res, nil
	}
	// The plan travelled through the database and the approval; what is
	// written must still be the fix of DESIGN.md and nothing more.
	if !diagnose.IsTheFix(current, plan.After, partner, c.cfg.AllTenantsFix) {
		if len(current.Types()) == 0 && plan.After.AllTenants() {
			return diagnose.Change{}, diagnose.Errorf(diagnose.EINVALID, "the plan for policy %q excludes service provider users of every tenant, not the partner's alone, and this deployment is not configured for that (CACHECK_ALL_TENANTS_FIX); nothing was written",
				label(fresh, plan.PolicyID))
		}
		return diagnose.Change{}, diagnose.Errorf(diagnose.EINVALID, "the plan for policy %q changes its exclusion beyond adding the partner's service provider users (%s → %s); nothing was written",
			label(fresh, plan.PolicyID), diagnose.DescribeExclusion(current), diagnose.DescribeExclusion(plan.After))
	}
	return c.write(ctx, cn, fresh, plan.After, res, func(got *diagnose.GuestsOrExternalUsers) bool { return got.Excludes(partner) })
}

// Revert restores the exclusion a write replaced (before, nil for none),
// only while the policy still has the exclusion the bot wrote. A policy
// that already has before is left alone (NoChange): a revert repeated after
// a crash or a partial failure finds its earlier writes in place.
func (c *Client) Revert(ctx context.Context, tenantID, policyID string, before, wrote *diagnose.GuestsOrExternalUsers) (diagnose.Change, error) {
	cn, err := c.conn(tenantID)
	if err != nil {
		return diagnose.Change{}, err
	}
	fresh, _, err := c.readPolicy(ctx, cn, policyID)
	if err != nil {
		return diagnose.Change{}, err
	}
	current := usersOf(fresh).ExcludeGuestsOrExternalUsers
	res := diagnose.Change{PolicyID: fresh.ID, DisplayName: fresh.DisplayName, Before: current, After: current, Policy: fresh}
	if current.Equal(before) {
		res.NoChange = true
		res.Effect = c.effect(fresh)
		return res, nil
	}
	if !current.Equal(wrote) {
		return diagnose.Change{}, &PolicyChangedError{PolicyID: policyID, Fresh: fresh, Reason: "its exclusion is no longer the one ca-check wrote, so someone changed it since"}
	}
	return c.write(ctx, cn, fresh, before, res, func(got *diagnose.GuestsOrExternalUsers) bool { return got.Equal(before) })
}

// sameTime reports whether two modifiedDateTime values are the same, both
// null included.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func usersOf(p diagnose.Policy) diagnose.UsersCondition {
	if p.Conditions.Users == nil {
		return diagnose.UsersCondition{}
	}
	return *p.Conditions.Users
}

// write PATCHes conditions.users of fresh (the policy as just read) with
// the exclusion set to excl, reads the policy back and checks it with ok.
// The body is diagnose.PatchBody's, the one the guide shows.
func (c *Client) write(ctx context.Context, cn *conn, fresh diagnose.Policy, excl *diagnose.GuestsOrExternalUsers, res diagnose.Change, ok func(*diagnose.GuestsOrExternalUsers) bool) (diagnose.Change, error) {
	o := op{cn.tenant, fmt.Sprintf("policy %q", label(fresh, res.PolicyID)), permWrite}
	body, err := diagnose.PatchBody(&fresh, excl)
	if err != nil {
		return res, fmt.Errorf("graphclient: PATCH body of policy %s: %w", fresh.ID, err)
	}
	ri, err := cn.graph.Identity().ConditionalAccess().Policies().ByConditionalAccessPolicyId(fresh.ID).ToGetRequestInformation(ctx, nil)
	if err != nil {
		return res, err
	}
	// The body is sent as the JSON bytes built here rather than as an SDK
	// model: the SDK would drop enum values it does not know (and a model
	// built from a read one PATCHes {}); see doc.go.
	ri.Method = abs.PATCH
	ri.SetStreamContentAndContentType(body, "application/json")
	sent, err := c.send(ctx, cn, ri)
	if err != nil {
		return res, c.fail(o, err)
	}
	res.RequestIDs = append(res.RequestIDs, sent.requestID)

	back, backID, err := c.readBack(ctx, cn, fresh.ID, ok)
	if err != nil {
		return res, fmt.Errorf("the change was sent (request-id %s) but could not be read back: %w", sent.requestID, err)
	}
	res.RequestIDs = append(res.RequestIDs, backID)
	res.Policy = back
	res.After = usersOf(back).ExcludeGuestsOrExternalUsers
	res.Effect = c.effect(back)
	if !ok(res.After) {
		return res, &diagnose.Error{Code: diagnose.EUNAVAILABLE,
			Message: fmt.Sprintf("Graph accepted the change to policy %q (request-id %s) but reading it back shows a different exclusion; check the policy in the Entra admin center", label(back, fresh.ID), sent.requestID)}
	}
	return res, nil
}

// readBackTries bounds the reads of a written policy.
const readBackTries = 3

// readBack reads a policy just written until it shows the write (ok), at
// most readBackTries times with growing waits: Entra's directory is
// eventually consistent, and a read served by a replica the write has not
// reached yet must not be reported as a write that did not take. It returns
// the last read either way.
func (c *Client) readBack(ctx context.Context, cn *conn, id string, ok func(*diagnose.GuestsOrExternalUsers) bool) (diagnose.Policy, string, error) {
	wait := c.readBackWait
	for try := 1; ; try++ {
		p, requestID, err := c.readPolicy(ctx, cn, id)
		if err != nil || ok(usersOf(p).ExcludeGuestsOrExternalUsers) || try == readBackTries {
			return p, requestID, err
		}
		c.log.Debug("read-back does not show the write yet; reading again", "tenant", cn.tenant, "policy", id, "try", try)
		select {
		case <-ctx.Done():
			return p, requestID, nil
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// effect re-evaluates one policy for the partner's default scenario.
func (c *Client) effect(p diagnose.Policy) diagnose.Effect {
	d := diagnose.Evaluate(diagnose.Evidence{Policies: []diagnose.Policy{p}}, diagnose.Scenario{PartnerTenantID: c.PartnerTenantID()})
	if len(d.Policies) == 0 {
		return ""
	}
	return d.Policies[0].Effect
}

// readPolicy reads one policy. The decoded policy keeps the users
// properties diagnose does not model, for diagnose.PatchBody.
func (c *Client) readPolicy(ctx context.Context, cn *conn, id string) (p diagnose.Policy, requestID string, err error) {
	o := op{cn.tenant, fmt.Sprintf("Conditional Access policy %s", id), permPolicies}
	ri, err := cn.graph.Identity().ConditionalAccess().Policies().ByConditionalAccessPolicyId(id).ToGetRequestInformation(ctx, nil)
	if err != nil {
		return p, "", err
	}
	res, err := c.send(ctx, cn, ri)
	if err != nil {
		return p, res.requestID, c.fail(o, err)
	}
	ps, err := diagnose.DecodePolicies(res.body)
	if err != nil || len(ps) != 1 {
		return p, res.requestID, diagnose.Errorf(diagnose.EUNAVAILABLE, "Microsoft Graph answered policy %s with something that is not a policy", id)
	}
	return ps[0], res.requestID, nil
}
