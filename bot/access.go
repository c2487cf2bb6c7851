package bot

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/bot/store"
)

// This file decides who may ask (DESIGN.md, "Who may see what"). A
// diagnosis, the customer picker, a guide, a re-check, an approval request,
// the audit and the App Home's lists reveal customers' security
// configuration, and a partner's Slack shares channels with customers
// (Slack Connect) and has guests. Only full members of the partner's own
// workspace (or of its Enterprise Grid organization), optionally of one user
// group, may ask. Approvers are not askers: they decide their own tenant's
// requests (mayDecide), wherever their workspace is.

// asker is who sent a delivery, as Slack's signed payload says. Team and
// Enterprise are the user's own workspace and organization where the payload
// names them ("" where it does not); users.info has the last word.
type asker struct {
	User       string
	Team       string
	Enterprise string
}

// Why someone may not ask: the reason logged and the refusals metric's label.
const (
	whyNoUser     = "no_user"
	whyBot        = "bot"
	whyGuest      = "guest"
	whyExternal   = "external"
	whyDeactivate = "deactivated"
	whyGroup      = "not_in_group"
	whyUnverified = "unverified" // Slack could not say who it is: fail closed
	whyLinked     = "linked_channel"
	// Not an approver (nor a ca-check admin) of the tenant whose audit was
	// asked for.
	whyNotApprover = "not_approver"
)

// refusalText is the one line someone who may not ask is shown. It names no
// tenant and no customer.
func refusalText(why string) string {
	switch why {
	case whyUnverified:
		return ":warning: I could not check with Slack who you are, so I answer nothing for now; please try again in a minute."
	case whyGroup:
		return ":no_entry_sign: ca-check answers only its support engineers' user group. Ask a ca-check admin to add you."
	case whyLinked:
		return ":no_entry_sign: This channel is linked to a customer, so I answer here only about that customer. Ask about other customers in a DM with me or in an internal channel."
	case whyShared:
		return ":no_entry_sign: This channel is shared with another organization, and a fleet scan names every customer. Run it in a DM with me or in an internal channel."
	}
	return ":no_entry_sign: ca-check answers only members of the partner's own Slack workspace."
}

// memberTTL is how long users.info's and the user group's answers are
// trusted: a guest promoted, or an engineer removed, counts within minutes,
// and a burst of questions costs one lookup.
const memberTTL = 5 * time.Minute

// maxCachedAskers bounds the verdicts kept: one per user who asked lately.
const maxCachedAskers = 10_000

// askerCache remembers, per user, whether Slack said they may ask. Failures
// are not remembered: the next question asks Slack again.
type askerCache struct {
	mu      sync.Mutex
	verdict map[string]cachedVerdict
	group   []string // CACHECK_ENGINEER_GROUP's members
	groupAt time.Time
}

type cachedVerdict struct {
	why string
	at  time.Time
}

func (c *askerCache) get(user string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.verdict[user]
	if !ok || now.Sub(v.at) >= memberTTL {
		return "", false
	}
	return v.why, true
}

func (c *askerCache) put(user, why string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.verdict == nil {
		c.verdict = map[string]cachedVerdict{}
	}
	if len(c.verdict) >= maxCachedAskers {
		for u, v := range c.verdict {
			if now.Sub(v.at) >= memberTTL {
				delete(c.verdict, u)
			}
		}
		for u := range c.verdict {
			if len(c.verdict) < maxCachedAskers {
				break
			}
			delete(c.verdict, u)
		}
	}
	c.verdict[user] = cachedVerdict{why: why, at: now}
}

// mayAsk reports why a may not ask ("" when they may). It decides from the
// signed payload first (a user of another organization is refused without a
// lookup), then from users.info, and, with CACHECK_ENGINEER_GROUP, from the
// group's members. Whatever Slack cannot answer refuses.
func (b *Bot) mayAsk(ctx context.Context, a asker) string {
	if why := b.foreign(a); why != "" {
		return why
	}
	self := b.identity()
	now := b.now()
	why, ok := b.askers.get(a.User, now)
	if !ok {
		u, err := b.api.GetUserInfoContext(ctx, a.User)
		if err != nil {
			b.apiError(ctx, "users.info", err)
			return whyUnverified
		}
		switch {
		case u.IsBot || u.IsAppUser || u.ID == self.UserID:
			why = whyBot
		case u.Deleted:
			why = whyDeactivate
		case u.IsRestricted || u.IsUltraRestricted:
			why = whyGuest
		case u.IsStranger || !self.ownTeam(u.TeamID, u.Enterprise.EnterpriseID):
			why = whyExternal
		}
		b.askers.put(a.User, why, now)
	}
	if why != "" || b.cfg.EngineerGroup == "" {
		return why
	}
	members, err := b.groupMembers(ctx)
	if err != nil {
		b.apiError(ctx, "usergroups.users.list", err)
		return whyUnverified
	}
	if !slices.Contains(members, a.User) {
		return whyGroup
	}
	return ""
}

// foreign is mayAsk's part that needs no lookup: the payload alone.
func (b *Bot) foreign(a asker) string {
	self := b.identity()
	switch {
	case a.User == "":
		return whyNoUser
	case self.TeamID == "":
		return whyUnverified
	case a.Team != "" && !self.ownTeam(a.Team, a.Enterprise):
		return whyExternal
	}
	return ""
}

// ownTeam reports whether a workspace is the bot's own or, on Enterprise
// Grid, another workspace of the same organization.
func (id identity) ownTeam(team, enterprise string) bool {
	if team == id.TeamID {
		return true
	}
	return id.EnterpriseID != "" && enterprise == id.EnterpriseID
}

// groupMembers lists CACHECK_ENGINEER_GROUP's members, from the cache while
// it is fresh.
func (b *Bot) groupMembers(ctx context.Context) ([]string, error) {
	now := b.now()
	c := &b.askers
	c.mu.Lock()
	if c.group != nil && now.Sub(c.groupAt) < memberTTL {
		members := c.group
		c.mu.Unlock()
		return members, nil
	}
	c.mu.Unlock()
	members, err := b.api.GetUserGroupMembersContext(ctx, b.cfg.EngineerGroup)
	if err != nil {
		return nil, err
	}
	if members == nil {
		members = []string{}
	}
	c.mu.Lock()
	c.group, c.groupAt = members, now
	c.mu.Unlock()
	return members, nil
}

// refusal is one refused question, for the log and the metric.
type refusal struct {
	asker
	Channel string
	Path    string // command, mention, paste, click, picker, home
	Tenant  string // the tenant asked about, as typed or resolved; "" when none
	Why     string
}

// refused logs and counts a refusal. It never logs pasted text: Tenant is a
// typed query (bounded by maxQueryLen) or a tenant ID.
func (b *Bot) refused(ctx context.Context, r refusal) {
	b.m.refusals.WithLabelValues(r.Path, r.Why).Inc()
	b.logger(ctx).Warn("refused", "user", r.User, "user_team", r.Team, "channel", r.Channel, "path", r.Path, "tenant", r.Tenant, "why", r.Why)
}

// asEngineer wraps work that only an asker may have done: fn runs when
// mayAsk lets a through; otherwise the refusal is logged, counted and, unless
// quiet, told to dst in one private line.
func (b *Bot) asEngineer(a asker, dst destination, path string, quiet bool, fn func(context.Context)) func(context.Context) {
	return func(ctx context.Context) {
		if why := b.mayAsk(ctx, a); why != "" {
			b.refused(ctx, refusal{asker: a, Channel: dst.Channel, Path: path, Why: why})
			if !quiet {
				dst.Private = true
				b.say(ctx, dst, refusalText(why))
			}
			return
		}
		fn(ctx)
	}
}

// errLinkedElsewhere means a channel is linked to another customer than the
// one asked about.
var errLinkedElsewhere = errors.New("channel linked to another customer")

// linkedTo checks that tenantID may be talked about in channel: a channel
// linked to a customer answers only about that customer. A channel without a
// link answers about any. It fails closed when the link cannot be read.
func (b *Bot) linkedTo(ctx context.Context, channel, tenantID string) error {
	if channel == "" {
		return nil
	}
	l, err := b.store.ChannelLink(ctx, channel)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case !strings.EqualFold(l.TenantID, tenantID):
		return errLinkedElsewhere
	}
	return nil
}

// allowedHere is linkedTo with the refusal said: it reports whether dst may
// hear about tenantID, telling dst.User privately when not.
func (b *Bot) allowedHere(ctx context.Context, dst destination, path, tenantID string) bool {
	err := b.linkedTo(ctx, dst.Channel, tenantID)
	if err == nil {
		return true
	}
	dst.Private = true
	if !errors.Is(err, errLinkedElsewhere) {
		b.storeError(ctx, "channel link", err)
		b.say(ctx, dst, userMessage(ctx, err))
		return false
	}
	b.refused(ctx, refusal{asker: asker{User: dst.User}, Channel: dst.Channel, Path: path, Tenant: tenantID, Why: whyLinked})
	b.say(ctx, dst, refusalText(whyLinked))
	return false
}

// whyShared is the refusal of fleet-wide answers (a scan's progress and
// digest name every customer) in a channel shared with another
// organization, or one linked to a customer.
const whyShared = "shared_channel"

// fleetChannel reports why channel may not hear about every customer ("" when
// it may): a channel linked to one customer, or shared with another
// organization over Slack Connect (or about to be), may not. A DM with the bot
// may. It fails closed when Slack cannot say.
func (b *Bot) fleetChannel(ctx context.Context, channel string) string {
	if strings.HasPrefix(channel, "D") {
		return ""
	}
	if _, err := b.store.ChannelLink(ctx, channel); err == nil {
		return whyLinked
	} else if !errors.Is(err, store.ErrNotFound) {
		b.storeError(ctx, "channel link", err)
		return whyUnverified
	}
	ch, err := b.api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: channel})
	if err != nil {
		b.apiError(ctx, "conversations.info", err)
		return whyUnverified
	}
	if ch.IsExtShared || ch.IsPendingExtShared {
		return whyShared
	}
	return ""
}
