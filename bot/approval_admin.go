package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/diagnose"
)

// approversUsage is the answer to a malformed /ca-check approvers.
const approversUsage = ":information_source: `/ca-check approvers <tenant> list`, `/ca-check approvers <tenant> add @user` or `/ca-check approvers <tenant> remove @user`; the tenant is a tenant ID or a verified domain."

// userArgRE matches a user as Slack escapes it in command text (<@U123> or
// <@U123|name>), or a bare member ID.
var userArgRE = regexp.MustCompile(`^(?:<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|([UW][A-Z0-9]{2,}))$`)

// parseUser returns the Slack user ID in a mention or a member ID.
func parseUser(s string) (string, bool) {
	m := userArgRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return "", false
	}
	return m[1] + m[2], true
}

// approvers is /ca-check approvers <tenant> add|remove|list [@user], for
// ca-check admins only: approvers decide what is written in a customer
// tenant.
func (b *Bot) approvers(ctx context.Context, dst destination, args []string) {
	if !b.cfg.isBotAdmin(dst.User) {
		b.say(ctx, dst, ":no_entry_sign: Only ca-check admins (CACHECK_ADMIN_USERS) manage approvers.")
		return
	}
	if msg, ok := b.mayLink(ctx, dst.User); !ok {
		b.say(ctx, dst, msg)
		return
	}
	svc, err := b.service()
	if err != nil {
		b.say(ctx, dst, decisionText(ctx, err))
		return
	}
	if len(args) < 2 {
		b.say(ctx, dst, approversUsage)
		return
	}
	verb := strings.ToLower(args[1])
	var user string
	switch verb {
	case "add", "remove":
		var ok bool
		if len(args) != 3 {
			b.say(ctx, dst, approversUsage)
			return
		}
		if user, ok = parseUser(args[2]); !ok {
			b.say(ctx, dst, fmt.Sprintf(":warning: %s is not a Slack user I can read. Mention them (`@name`, picked from the list) or paste their member ID (profile > ⋮ > Copy member ID).", diagnose.EscapeMrkdwn(args[2])))
			return
		}
	case "list":
	default:
		b.say(ctx, dst, approversUsage)
		return
	}
	t, err := b.diag.ResolveTenant(ctx, args[0])
	if err != nil {
		b.say(ctx, dst, userMessage(ctx, err))
		return
	}
	switch verb {
	case "add":
		// An approver is a person Slack knows and who can click: a typo'd
		// member ID, a bot or a deactivated account would only be shown to
		// requesters as someone to wait for.
		u, uerr := b.api.GetUserInfoContext(ctx, user)
		if uerr != nil {
			b.apiError(ctx, "users.info", uerr)
			b.say(ctx, dst, fmt.Sprintf(":warning: Slack does not know %s (%s); check the member ID.", userRef(user), diagnose.EscapeMrkdwn(orID(slackErrorCode(uerr), "error"))))
			return
		}
		if u.IsBot || u.Deleted {
			b.say(ctx, dst, fmt.Sprintf(":no_entry_sign: %s is a bot or a deactivated account, and cannot approve changes.", userRef(user)))
			return
		}
		err = svc.AddApprover(ctx, t.ID, user, dst.User)
	case "remove":
		err = svc.RemoveApprover(ctx, t.ID, user, dst.User)
		if errors.Is(err, approval.ErrNotFound) {
			b.say(ctx, dst, fmt.Sprintf("%s was not an approver of %s.", userRef(user), tenantLabel(t)))
			return
		}
	}
	if err != nil {
		b.say(ctx, dst, userMessage(ctx, err))
		return
	}
	ids, err := svc.Approvers(ctx, t.ID)
	if err != nil {
		b.say(ctx, dst, userMessage(ctx, err))
		return
	}
	list := "none yet"
	if len(ids) > 0 {
		list = userList(ids)
	}
	prefix := ""
	switch verb {
	case "add":
		prefix = fmt.Sprintf(":white_check_mark: %s can now approve changes in %s.\n", userRef(user), tenantLabel(t))
	case "remove":
		prefix = fmt.Sprintf(":white_check_mark: %s can no longer approve changes in %s.\n", userRef(user), tenantLabel(t))
	}
	b.say(ctx, dst, fmt.Sprintf("%sApprovers of %s (`%s`): %s", prefix, tenantLabel(t), diagnose.EscapeMrkdwn(t.ID), list))
}

// maxAuditShown is how many audit records /ca-check audit shows.
const maxAuditShown = 40

// audit is /ca-check audit <tenant>: every request and change, newest
// first, for ca-check admins and the tenant's approvers.
func (b *Bot) audit(ctx context.Context, dst destination, query string) {
	if query == "" {
		b.say(ctx, dst, ":information_source: `/ca-check audit <tenant>`: the tenant ID or a verified domain.")
		return
	}
	svc, err := b.service()
	if err != nil {
		b.say(ctx, dst, decisionText(ctx, err))
		return
	}
	t, err := b.diag.ResolveTenant(ctx, query)
	if err != nil {
		b.say(ctx, dst, userMessage(ctx, err))
		return
	}
	allowed := b.cfg.isBotAdmin(dst.User)
	if !allowed {
		ids, err := svc.Approvers(ctx, t.ID)
		if err != nil {
			b.say(ctx, dst, userMessage(ctx, err))
			return
		}
		for _, id := range ids {
			allowed = allowed || id == dst.User
		}
	}
	if !allowed {
		// Nothing about the tenant: whoever typed a domain learns no name.
		b.refused(ctx, refusal{asker: asker{User: dst.User}, Channel: dst.Channel, Path: "audit", Tenant: t.ID, Why: whyNotApprover})
		b.say(ctx, dst, ":no_entry_sign: Only ca-check admins and that customer's approvers can read its audit log.")
		return
	}
	recs, err := svc.Audit(ctx, t.ID, maxAuditShown)
	if err != nil {
		b.say(ctx, dst, userMessage(ctx, err))
		return
	}
	if len(recs) == 0 {
		b.say(ctx, dst, "No approval requests or changes for "+tenantLabel(t)+" yet.")
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "*Audit log of %s* (`%s`), newest first:", tenantLabel(t), diagnose.EscapeMrkdwn(t.ID))
	for _, r := range recs {
		sb.WriteString("\n" + auditLine(r))
	}
	b.say(ctx, dst, sb.String())
}

// auditLine is one audit record: when, who, what, which request, and the
// Graph request IDs of any write.
func auditLine(r approval.AuditRecord) string {
	who := auditActor
	if r.Actor != auditActor {
		who = userRef(r.Actor)
	}
	line := fmt.Sprintf("• %s %s *%s*", slackDate(r.At), who, diagnose.EscapeMrkdwn(r.Action))
	if r.From != "" {
		line += fmt.Sprintf(" (%s → %s)", r.From, r.To)
	}
	if r.RequestID != "" {
		line += " request `" + shortID(r.RequestID) + "`"
	}
	var detail struct {
		Outcomes []approval.Outcome `json:"outcomes"`
		Reason   string             `json:"reason"`
		Approver string             `json:"approver"`
		User     string             `json:"user"`
		Via      string             `json:"via"`
		Why      string             `json:"why"`
	}
	if len(r.Detail) > 0 && json.Unmarshal(r.Detail, &detail) == nil {
		for _, o := range detail.Outcomes {
			line += fmt.Sprintf("; %s: %s", diagnose.EscapeMrkdwn(orID(o.DisplayName, o.PolicyID)), o.Status)
			for _, ch := range []*diagnose.Change{o.Change, o.Reverted} {
				if ch != nil && len(ch.RequestIDs) > 0 {
					line += " (Graph request-ids `" + diagnose.EscapeMrkdwn(strings.Join(ch.RequestIDs, "`, `")) + "`)"
				}
			}
		}
		switch {
		case detail.Reason != "":
			line += ": “" + truncateMrkdwn(diagnose.EscapeMrkdwn(detail.Reason), 200) + "”"
		case detail.Approver != "":
			line += " " + userRef(detail.Approver)
		case detail.User != "":
			line += " " + userRef(detail.User) + " by " + diagnose.EscapeMrkdwn(detail.Via)
		case detail.Why != "":
			line += ": " + diagnose.EscapeMrkdwn(detail.Why)
		}
	}
	return line
}
