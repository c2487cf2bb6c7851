package approval

import (
	"errors"
	"fmt"
	"time"
)

// Errors of the service besides the Store's, told apart with errors.Is.
var (
	// ErrBadID: what names the request is not a request ID.
	ErrBadID = errors.New("that does not name an approval request")
	// ErrNotConfigured: the service has no Changer.
	ErrNotConfigured = errors.New("approvals are not configured")
	// ErrJustRequested: another caller opened a request for the same
	// diagnosis a moment ago.
	ErrJustRequested = errors.New("approval for this diagnosis was just requested")
	// ErrReverting: another revert of the request is running.
	ErrReverting = errors.New("the request is already being reverted")
)

// Why is why a decision was refused.
type Why string

// The reasons a decision is refused.
const (
	WhyNoUser      Why = "no user"         // the front end could not say who acts
	WhyRequester   Why = "requester"       // nobody decides their own request
	WhyNotApprover Why = "not an approver" // not among the tenant's approvers
	WhyNoEmail     Why = "no email"        // VerifyApprovers, and no email to check
	WhyNoAdminRole Why = "no admin role"   // VerifyApprovers, and the email has no admin role in the tenant
	WhyNotReverter Why = "not the requester, an approver or an admin"
)

// RefusedError is a decision (approve, reject, retry, revert) refused to
// its actor. The service has logged and audited it; the front end says why.
type RefusedError struct {
	Request Request
	User    string
	Action  string // approve, reject, retry or revert
	Why     Why
	Email   string // the email checked, for WhyNoAdminRole
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s of request %s refused to %q: %s", e.Action, e.Request.ID, e.User, e.Why)
}

// StateError is an action on a request that is not in a state for it (a
// click that came too late); Request is as it now is.
type StateError struct {
	Request Request
}

func (e *StateError) Error() string {
	return fmt.Sprintf("request %s is %s", e.Request.ID, e.Request.State)
}

// NoApproversError is a request that cannot be opened: the tenant has no
// approver besides the requester.
type NoApproversError struct {
	TenantID string
	// OnlyRequester is set when the requester is the tenant's only
	// approver (nobody decides their own request).
	OnlyRequester bool
}

func (e *NoApproversError) Error() string {
	if e.OnlyRequester {
		return fmt.Sprintf("tenant %s has no approver besides the requester", e.TenantID)
	}
	return fmt.Sprintf("tenant %s has no approvers", e.TenantID)
}

// PendingError is a request that was not opened because one for the same
// diagnosis is still waiting for a decision.
type PendingError struct {
	Request Request // the waiting one
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("request %s for diagnosis %d is still pending", e.Request.ID, e.Request.DiagnosisID)
}

// WindowError is a revert after the revert window.
type WindowError struct {
	Until time.Time // when the window ended
}

func (e *WindowError) Error() string {
	return "the revert window ended " + e.Until.Format(time.RFC3339)
}
