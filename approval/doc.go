// Package approval is ca-check's approval domain: a request to change a
// customer tenant's Conditional Access policies, the plans it shows, the
// per-policy outcomes of applying them, its states and the transitions
// between them, its audit record, and the Service that moves it through
// them. It knows no Slack and no Graph SDK: it imports diagnose alone, and
// reaches everything else through the small interfaces it declares.
//
// The state machine (DESIGN.md "Approvals"):
//
//	pending → approved → applying → applied ⇄ reverting → reverted
//	   │                    │ ↑
//	   │                    ↓ │ (retry)
//	   │                  failed
//	   └→ rejected | expired | superseded     applying → superseded
//
// A Store moves a request from one state to the next as a compare-and-swap
// (Transition), so that double clicks, retried deliveries and replicas move
// it once, and writes its audit record in the same transaction.
//
// In approved, applying and reverting, and while an apply's outcome is
// still to be told (ReportDue), the process at work holds the request's
// Lease and renews it (lease.go). A process that dies stops renewing; once
// its lease lapses, any process's Sweep takes the request over: it
// reconciles an interrupted apply from the policies, returns an
// interrupted revert to applied, and tells an outcome not told yet. A
// lease that is renewed is never taken over.
//
// The Service's path, in the order a request travels (one file each):
//
//	open.go     Open: store the request, ask the approvers (Notifier.Ask), tell the thread
//	decide.go   Approve, Reject, Retry: who may decide (authorise), the CAS
//	apply.go    apply every plan (Changer.Apply), re-plan what changed, settle, report
//	revert.go   Revert: who may, within the window, once at a time
//	sweep.go    Sweep: expiry, and taking over what a dead process left
//	lease.go    leases: held and renewed while a process works
//
// Who may decide is decided here: the tenant's approvers from the Store,
// never the requester, and optionally only those whose email is an active
// admin of the tenant (Changer.IsApprover). The front end authenticates
// the Actor; refusals come back as a *RefusedError, already logged and
// audited, for the front end to put in its own words.
//
// The interfaces:
//
//	Store      requests, their audit log, approvers (bot/store: SQLite, PostgreSQL)
//	Changer    writes into the tenant and checks admin roles (graphclient)
//	Diagnoser  reads the tenant again, to re-plan and to reconcile (bot, over graphclient)
//	Notifier   asks an approver, closes the approvers' copies, tells the thread (bot: Slack)
package approval
