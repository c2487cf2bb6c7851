// Package approval is ca-check's approval domain: a request to change a
// customer tenant's Conditional Access policies, the plans it shows, the
// per-policy outcomes of applying them, its states and the transitions
// between them, and its audit record. It knows no Slack and no Graph SDK:
// it imports diagnose alone.
//
// The state machine (DESIGN.md "Approvals"):
//
//	pending → approved → applying → applied → reverted
//	   │                    │ ↑
//	   │                    ↓ │ (retry)
//	   │                  failed
//	   └→ rejected | expired | superseded     applying → superseded
//
// A store moves a request from one state to the next as a compare-and-swap
// (Transition), so that double clicks, retried deliveries and replicas move
// it once.
package approval
