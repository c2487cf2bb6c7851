package approval_test

import (
	"testing"

	"github.com/cacheck/ca-check/approval"
)

var allStates = []approval.State{
	approval.StatePending, approval.StateApproved, approval.StateApplying, approval.StateApplied, approval.StateFailed,
	approval.StateRejected, approval.StateExpired, approval.StateSuperseded, approval.StateReverting, approval.StateReverted,
}

// The state machine of DESIGN.md "Approvals", edge by edge; the store's
// TestTransitionPairs checks it holds in the database too.
func TestAllowed(t *testing.T) {
	legal := map[[2]approval.State]bool{
		{approval.StatePending, approval.StateApproved}:    true,
		{approval.StatePending, approval.StateRejected}:    true,
		{approval.StatePending, approval.StateExpired}:     true,
		{approval.StatePending, approval.StateSuperseded}:  true,
		{approval.StateApproved, approval.StateApplying}:   true,
		{approval.StateApplying, approval.StateApplied}:    true,
		{approval.StateApplying, approval.StateFailed}:     true,
		{approval.StateApplying, approval.StateSuperseded}: true,
		{approval.StateApplied, approval.StateReverting}:   true,
		{approval.StateReverting, approval.StateReverted}:  true,
		{approval.StateReverting, approval.StateApplied}:   true,
		{approval.StateFailed, approval.StateApplying}:     true,
	}
	for _, from := range append(allStates, "", "bogus") {
		for _, to := range append(allStates, "", "bogus") {
			if got, want := approval.Allowed(from, to), legal[[2]approval.State{from, to}]; got != want {
				t.Errorf("Allowed(%q, %q) = %v, want %v", from, to, got, want)
			}
		}
		if got, want := from.Working(), from == approval.StateApproved || from == approval.StateApplying || from == approval.StateReverting; got != want {
			t.Errorf("%q.Working() = %v", from, got)
		}
	}
}

// Request IDs travel in button values: 128 random bits, never repeated,
// and anything else is told apart before a lookup.
func TestNewID(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id, err := approval.NewID()
		if err != nil {
			t.Fatal(err)
		}
		if !approval.ValidID(id) {
			t.Fatalf("NewID = %q, not 32 hex digits", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "1", "0123456789ABCDEF0123456789abcdef", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0", "g123456789abcdef0123456789abcdef", "' OR 1=1 --                     "} {
		if approval.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}
