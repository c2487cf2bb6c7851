package approval

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cacheck/ca-check/diagnose"
)

// Store is what the service keeps: requests, their audit log, and who may
// decide a tenant's requests. bot/store implements it over SQLite and
// PostgreSQL. Every method that changes a request is a compare-and-swap in
// the database, so that of several callers (clicks, replicas) one wins; the
// others get ErrConflict.
type Store interface {
	// Approvers returns the user IDs that may decide the tenant's
	// requests, sorted.
	Approvers(ctx context.Context, tenantID string) ([]string, error)
	// AddApprover lets the user decide the tenant's requests; adding an
	// approver twice is not an error.
	AddApprover(ctx context.Context, tenantID, userID, addedBy string, at time.Time) error
	// RemoveApprover withdraws the user's right; ErrNotFound if they had
	// none.
	RemoveApprover(ctx context.Context, tenantID, userID string) error

	// CreateRequest stores r, pending, with its audit record "requested";
	// ErrConflict when its diagnosis already has a pending request.
	CreateRequest(ctx context.Context, r Request) error
	// Request returns the request; ErrNotFound if there is none.
	Request(ctx context.Context, id string) (Request, error)
	// Transition moves the request from t.From to t.To as a
	// compare-and-swap, with its audit record, and returns it as it now
	// is: ErrConflict when it is no longer in t.From (or at t.Version),
	// ErrExpired when approving it at or after its ExpiresAt, ErrNotFound
	// when there is no such request.
	Transition(ctx context.Context, id string, t Transition) (Request, error)
	// PendingFor returns the tenant's pending requests, oldest first,
	// expired ones included until ExpireRequests runs.
	PendingFor(ctx context.Context, tenantID string) ([]Request, error)
	// ExpireRequests moves every pending request whose ExpiresAt is at or
	// before now to expired and returns them; each to one caller only.
	ExpireRequests(ctx context.Context, now time.Time) ([]Request, error)

	// Lapsed returns the requests whose lease lapsed by now (in a working
	// state, or with a report due): what a dead process left.
	Lapsed(ctx context.Context, now time.Time) ([]Request, error)
	// TakeLease gives l to the request at version whose lease lapsed by
	// now, and returns it; ErrConflict when it changed or its lease is
	// held.
	TakeLease(ctx context.Context, id string, version int64, l Lease, now time.Time) (Request, error)
	// RenewLease moves the request's lease to l.Until while l.Holder
	// holds it, and reports whether it still does.
	RenewLease(ctx context.Context, id string, l Lease) (held bool, err error)
	// Reported clears the request's due report and releases its lease,
	// if holder holds it, appending rec when not nil, in one transaction;
	// ErrConflict otherwise.
	Reported(ctx context.Context, id, holder string, rec *AuditRecord) error

	// AppendAudit records an event that is no transition.
	AppendAudit(ctx context.Context, a AuditRecord) error
	// Audit returns up to limit of the tenant's audit records, newest
	// first.
	Audit(ctx context.Context, tenantID string, limit int) ([]AuditRecord, error)
	// RequestAudit returns one request's audit records, oldest first.
	RequestAudit(ctx context.Context, id string) ([]AuditRecord, error)
}

// Changer writes approved fixes into a customer tenant and checks
// approvers; graphclient.Client implements it. Errors carry a diagnose
// code: ECONFLICT means the policy changed since the plan (or since
// ca-check's own write, for a revert) and nothing was written.
type Changer interface {
	// Apply re-reads the policy, refuses when it changed since the plan,
	// writes plan.After, reads the policy back and re-evaluates it.
	Apply(ctx context.Context, tenantID string, plan diagnose.Plan) (diagnose.Change, error)
	// Revert restores before, only while the policy still has wrote; a
	// policy that has before already is left alone (NoChange).
	Revert(ctx context.Context, tenantID, policyID string, before, wrote *diagnose.GuestsOrExternalUsers) (diagnose.Change, error)
	// IsApprover reports whether emailOrUPN is an active Global, Security
	// or Conditional Access Administrator of the tenant.
	IsApprover(ctx context.Context, tenantID, emailOrUPN string) (bool, error)
}

// Diagnoser reads a request's tenant again, for re-planning a policy that
// changed since the plan and for reconciling an interrupted apply.
type Diagnoser interface {
	// Diagnose reads r's tenant and evaluates the scenario of the
	// diagnosis r came from (the partner's default scenario when that
	// diagnosis is gone). Errors carry a diagnose code.
	Diagnose(ctx context.Context, r Request) (*diagnose.Diagnosis, error)
}

// Notifier tells people about requests; the Slack adapter in bot
// implements it with Block Kit. Its methods report nothing back but how
// an approver was reached: a message that could not be sent is its own
// business to log.
type Notifier interface {
	// Ask sends r to one approver, with the means to approve or reject
	// it, and says how it reached them.
	Ask(ctx context.Context, r Request, approver string) Notice
	// Close replaces the approvers' copies of r that can be changed
	// (those sent as direct messages) by e's outcome, without the means
	// to decide.
	Close(ctx context.Context, r Request, copies []Notice, e Event)
	// Tell says e in r's thread (where the engineer asked).
	Tell(ctx context.Context, r Request, e Event)
}

// How a request reached an approver.
const (
	ViaDirect  = "dm"        // a direct message, which Close can update
	ViaChannel = "ephemeral" // a message only they see, in a channel
	ViaNone    = "none"      // not at all
)

// Notice is how a request reached one approver, as Ask reports it. It is
// kept in the audit log (action "notified"), so that any process can find
// the copies to close.
type Notice struct {
	User    string `json:"user"`
	Via     string `json:"via"`
	Channel string `json:"channel,omitempty"`
	TS      string `json:"ts,omitempty"`
	Error   string `json:"error,omitempty"` // why a direct message failed, as the front end names it
}

// EventKind is what happened to a request, for the Notifier to say.
type EventKind int

// The events.
const (
	// Requested: r went to its approvers (Tell; Event.Notices says how
	// each was reached).
	Requested EventKind = iota + 1
	// Shown: a copy sent after r was decided shows where r is (Close).
	Shown
	// Approved: Event.By approved; applying now (Close).
	Approved
	// Rejected: Event.By rejected, with Event.Reason (Close, Tell).
	Rejected
	// Expired: nobody decided in time (Close, Tell).
	Expired
	// Settled: an apply ended; r.State and r.Outcomes say how (Tell,
	// Close). Event.By approved or retried it; Event.RevertUntil is
	// when Revert stops working, zero when nothing can be reverted.
	Settled
	// Reconciled: ca-check was interrupted while applying r, and read
	// the policies to settle it (Tell, before Settled); Event.Unread says
	// why they could not be read, when they could not.
	Reconciled
	// ReportedLate: ca-check stopped before it reported how r went
	// (Tell, before Settled).
	ReportedLate
	// Reverted: Event.By reverted r, in full when no outcome is
	// revert_failed, else in part (Tell; Close when in full).
	Reverted
	// RevertInterrupted: ca-check was interrupted while reverting r,
	// which is applied again; Revert restores what is not yet (Tell).
	RevertInterrupted
	// Failed: something went wrong on ca-check's side before anything
	// was written; Event.Err says what (Tell).
	Failed
)

// Event is what the Notifier is told.
type Event struct {
	Kind        EventKind
	By          string
	Reason      string
	Notices     []Notice
	RevertUntil time.Time
	Unread      string
	Err         error
}

// Config is what New needs.
type Config struct {
	Store     Store
	Diagnoser Diagnoser
	Notifier  Notifier
	// Changer writes into the tenants; without it the service manages
	// approvers and reads the audit, and everything else answers
	// ErrNotConfigured.
	Changer Changer
	// TTL is how long a request waits for a decision.
	TTL time.Duration
	// RevertWindow is how long after an apply its change can be reverted.
	RevertWindow time.Duration
	// VerifyApprovers also requires, at each decision, that the
	// decider's email is an active admin of the tenant (Changer.IsApprover).
	VerifyApprovers bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Log gets what the service does, with the context of each call;
	// nothing is logged when nil.
	Log *slog.Logger
	// StoreFailed, when set, is told of every store failure, with what
	// the service was doing ("transition", "audit notice", …), for the
	// front end's metrics and logs.
	StoreFailed func(ctx context.Context, op string, err error)
	// Holder names this process in its leases; a new random name when "".
	Holder string
	// Lease is how long a lease lasts unless renewed (DefaultLease when
	// 0), and Renew how often a working process renews it (DefaultRenew
	// when 0, and less than Lease).
	Lease, Renew time.Duration
}

// Service is the approval flow: Open, Approve, Reject, Retry, Revert, and
// the periodic Sweep. Its methods are safe for concurrent use, and several
// Services (replicas) may share one Store.
type Service struct {
	store     Store
	changer   Changer
	diag      Diagnoser
	notify    Notifier
	ttl       time.Duration
	window    time.Duration
	verify    bool
	now       func() time.Time
	log       *slog.Logger
	storeFail func(ctx context.Context, op string, err error)

	holder     string        // this process, in its leases
	leaseFor   time.Duration // how long a lease lasts unless renewed
	renewEvery time.Duration
}

// New checks c and returns the service.
func New(c Config) (*Service, error) {
	if c.Store == nil || c.Diagnoser == nil || c.Notifier == nil {
		return nil, errors.New("approval: New needs a Store, a Diagnoser and a Notifier")
	}
	if c.TTL <= 0 || c.RevertWindow <= 0 {
		return nil, fmt.Errorf("approval: TTL (%v) and RevertWindow (%v) must be positive", c.TTL, c.RevertWindow)
	}
	s := &Service{
		store: c.Store, changer: c.Changer, diag: c.Diagnoser, notify: c.Notifier,
		ttl: c.TTL, window: c.RevertWindow, verify: c.VerifyApprovers,
		now: c.Now, log: c.Log, storeFail: c.StoreFailed,
		holder: c.Holder, leaseFor: cmp.Or(c.Lease, DefaultLease), renewEvery: cmp.Or(c.Renew, DefaultRenew),
	}
	if s.renewEvery >= s.leaseFor || s.renewEvery < 0 {
		return nil, fmt.Errorf("approval: a lease of %v renewed every %v would lapse under a live process", s.leaseFor, s.renewEvery)
	}
	if s.holder == "" {
		s.holder = newHolder()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.storeFail == nil {
		s.storeFail = func(context.Context, string, error) {}
	}
	return s, nil
}

// Configured reports whether the service can change tenants (it has a
// Changer).
func (s *Service) Configured() bool { return s.changer != nil }

// auditActor is the audit actor of what ca-check does on its own.
const auditActor = "ca-check"

// detail is the JSON of an audit record: what changed, with Graph's
// request IDs.
func detail(v any) []byte {
	raw, _ := json.Marshal(v) // plain data: cannot fail
	return raw
}

// audit appends an audit record, reporting a failure.
func (s *Service) audit(ctx context.Context, op string, a AuditRecord) {
	if err := s.store.AppendAudit(ctx, a); err != nil {
		s.storeFail(ctx, op, err)
	}
}

// load reads a request a button or command names.
func (s *Service) load(ctx context.Context, id string) (Request, error) {
	if !ValidID(id) {
		return Request{}, ErrBadID
	}
	r, err := s.store.Request(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		s.storeFail(ctx, "request", err)
	}
	return r, err
}

// notices returns the copies of a request that Close can update.
func (s *Service) notices(ctx context.Context, id string) []Notice {
	recs, err := s.store.RequestAudit(ctx, id)
	if err != nil {
		s.storeFail(ctx, "request audit", err)
		return nil
	}
	var out []Notice
	for _, r := range recs {
		var n Notice
		if r.Action == "notified" && json.Unmarshal(r.Detail, &n) == nil && n.Via == ViaDirect && n.TS != "" {
			out = append(out, n)
		}
	}
	return out
}

// closeCopies closes every approver's copy of the request, so that an old
// message cannot be used to decide again (the store refuses that anyway).
func (s *Service) closeCopies(ctx context.Context, r Request, e Event) {
	if copies := s.notices(ctx, r.ID); len(copies) > 0 {
		s.notify.Close(ctx, r, copies, e)
	}
}
