package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cacheck/ca-check/approval"
)

// TestBadInput: malformed arguments are refused with ErrInvalid and a message
// naming the problem, never a panic, and nothing stored changes.
func TestBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		link := Link{ChannelID: "C1", TenantID: "tenant-a", LinkedAt: t0}
		if err := s.LinkChannel(ctx, link); err != nil {
			t.Fatal(err)
		}
		r := newRequest(t, s)
		if err := s.AddApprover(ctx, "tenant-a", "U1", "UADMIN", t0); err != nil {
			t.Fatal(err)
		}
		snapshot := func() string {
			l, err1 := s.ChannelLink(ctx, "C1")
			req, err2 := s.Request(ctx, r.ID)
			ap, err3 := s.Approvers(ctx, "tenant-a")
			au, err4 := s.Audit(ctx, "tenant-a", 100)
			rs, err5 := s.PendingFor(ctx, "tenant-a")
			return fmt.Sprint(l, err1, req, err2, ap, err3, au, err4, rs, err5)
		}
		before := snapshot()

		valid := func(mod func(*approval.Request)) approval.Request {
			id, _ := approval.NewID()
			v := approval.Request{ID: id, TenantID: "tenant-a", RequestedBy: "UENG", State: approval.StatePending,
				Plans: onePlan, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
			mod(&v)
			return v
		}
		pending := approval.Transition{From: approval.StatePending, To: approval.StateApproved, By: "U1", At: t0}
		for name, call := range map[string]func() error{
			"LinkChannel empty channel": func() error { return s.LinkChannel(ctx, Link{TenantID: "tenant-b"}) },
			"LinkChannel empty tenant":  func() error { return s.LinkChannel(ctx, Link{ChannelID: "C1"}) },
			"LinkChannel blank tenant":  func() error { return s.LinkChannel(ctx, Link{ChannelID: "C1", TenantID: "  "}) },
			"LinkChannel year 1600": func() error {
				return s.LinkChannel(ctx, Link{ChannelID: "C1", TenantID: "t", LinkedAt: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)})
			},
			"UnlinkChannel empty":      func() error { return s.UnlinkChannel(ctx, "") },
			"ChannelLink empty":        func() error { _, err := s.ChannelLink(ctx, ""); return err },
			"Claim empty":              func() error { _, err := s.Claim(ctx, "", t0); return err },
			"PruneClaims zero time":    func() error { _, err := s.PruneClaims(ctx, time.Time{}); return err },
			"SaveDiagnosis no verdict": func() error { _, err := s.SaveDiagnosis(ctx, DiagnosisRecord{TenantID: "t"}); return err },
			"SaveDiagnosis bad JSON": func() error {
				_, err := s.SaveDiagnosis(ctx, DiagnosisRecord{Verdict: "x", Result: []byte("{")})
				return err
			},
			"Diagnosis zero ID":          func() error { _, err := s.Diagnosis(ctx, 0); return err },
			"RecentDiagnoses limit 0":    func() error { _, err := s.RecentDiagnoses(ctx, 0); return err },
			"AddApprover empty tenant":   func() error { return s.AddApprover(ctx, "", "U1", "UADMIN", t0) },
			"AddApprover empty user":     func() error { return s.AddApprover(ctx, "tenant-a", "", "UADMIN", t0) },
			"RemoveApprover empty user":  func() error { return s.RemoveApprover(ctx, "tenant-a", "") },
			"Approvers empty tenant":     func() error { _, err := s.Approvers(ctx, ""); return err },
			"CreateRequest empty ID":     func() error { return s.CreateRequest(ctx, valid(func(r *approval.Request) { r.ID = "" })) },
			"CreateRequest guessable ID": func() error { return s.CreateRequest(ctx, valid(func(r *approval.Request) { r.ID = "req-1" })) },
			"CreateRequest uppercase ID": func() error {
				return s.CreateRequest(ctx, valid(func(r *approval.Request) { r.ID = "ABCDEF0123456789ABCDEF0123456789" }))
			},
			"CreateRequest state approved": func() error {
				return s.CreateRequest(ctx, valid(func(r *approval.Request) { r.State = approval.StateApproved }))
			},
			"CreateRequest state empty":  func() error { return s.CreateRequest(ctx, valid(func(r *approval.Request) { r.State = "" })) },
			"CreateRequest empty tenant": func() error { return s.CreateRequest(ctx, valid(func(r *approval.Request) { r.TenantID = "" })) },
			"CreateRequest no requester": func() error { return s.CreateRequest(ctx, valid(func(r *approval.Request) { r.RequestedBy = "" })) },
			"CreateRequest no plans":     func() error { return s.CreateRequest(ctx, valid(func(r *approval.Request) { r.Plans = nil })) },
			"CreateRequest outcomes not one per plan": func() error {
				return s.CreateRequest(ctx, valid(func(r *approval.Request) { r.Outcomes = make([]approval.Outcome, 2) }))
			},
			"CreateRequest no expiry": func() error {
				return s.CreateRequest(ctx, valid(func(r *approval.Request) { r.ExpiresAt = time.Time{} }))
			},
			"CreateRequest expiry first": func() error { return s.CreateRequest(ctx, valid(func(r *approval.Request) { r.ExpiresAt = t0 })) },
			"CreateRequest decided":      func() error { return s.CreateRequest(ctx, valid(func(r *approval.Request) { r.DecidedBy = "U1" })) },
			"CreateRequest no diagnosis": func() error { return s.CreateRequest(ctx, valid(func(r *approval.Request) { r.DiagnosisID = 42 })) },
			"Request empty ID":           func() error { _, err := s.Request(ctx, ""); return err },
			"Transition empty ID":        func() error { _, err := s.Transition(ctx, "", pending); return err },
			"Transition unknown from": func() error {
				_, err := s.Transition(ctx, r.ID, leased(approval.Transition{From: "waiting", To: approval.StateApproved}))
				return err
			},
			"Transition unknown to": func() error {
				_, err := s.Transition(ctx, r.ID, leased(approval.Transition{From: approval.StatePending, To: "APPROVED"}))
				return err
			},
			"Transition empty states": func() error { _, err := s.Transition(ctx, r.ID, leased(approval.Transition{})); return err },
			"Transition bad detail": func() error {
				_, err := s.Transition(ctx, r.ID, leased(approval.Transition{From: approval.StatePending, To: approval.StateApproved, At: t0, Detail: []byte("[")}))
				return err
			},
			"Transition to approved without a lease": func() error {
				_, err := s.Transition(ctx, r.ID, approval.Transition{From: approval.StatePending, To: approval.StateApproved, By: "U1", At: t0})
				return err
			},
			"Transition to approved with a lease of nobody": func() error {
				_, err := s.Transition(ctx, r.ID, approval.Transition{From: approval.StatePending, To: approval.StateApproved, By: "U1", At: t0,
					Lease: &approval.Lease{Until: t0.Add(time.Minute)}})
				return err
			},
			"Transition to rejected with a lease": func() error {
				_, err := s.Transition(ctx, r.ID, approval.Transition{From: approval.StatePending, To: approval.StateRejected, By: "U1", At: t0,
					Lease: &approval.Lease{Holder: "P1", Until: t0.Add(time.Minute)}})
				return err
			},
			"Lapsed zero time": func() error { _, err := s.Lapsed(ctx, time.Time{}); return err },
			"TakeLease empty holder": func() error {
				_, err := s.TakeLease(ctx, r.ID, 1, approval.Lease{Until: t0.Add(time.Minute)}, t0)
				return err
			},
			"RenewLease zero expiry":   func() error { _, err := s.RenewLease(ctx, r.ID, approval.Lease{Holder: "P1"}); return err },
			"Reported empty holder":    func() error { return s.Reported(ctx, r.ID, "", nil) },
			"PendingFor empty tenant":  func() error { _, err := s.PendingFor(ctx, ""); return err },
			"AppendAudit empty tenant": func() error { return s.AppendAudit(ctx, approval.AuditRecord{Actor: "U1", Action: "x"}) },
			"AppendAudit empty actor":  func() error { return s.AppendAudit(ctx, approval.AuditRecord{TenantID: "tenant-a", Action: "x"}) },
			"AppendAudit empty action": func() error { return s.AppendAudit(ctx, approval.AuditRecord{TenantID: "tenant-a", Actor: "U1"}) },
			"AppendAudit unknown state": func() error {
				return s.AppendAudit(ctx, approval.AuditRecord{TenantID: "tenant-a", Actor: "U1", Action: "x", To: "nope"})
			},
			"AppendAudit bad detail": func() error {
				return s.AppendAudit(ctx, approval.AuditRecord{TenantID: "tenant-a", Actor: "U1", Action: "x", Detail: []byte("x")})
			},
			"Audit empty tenant":   func() error { _, err := s.Audit(ctx, "", 10); return err },
			"Audit negative limit": func() error { _, err := s.Audit(ctx, "tenant-a", -1); return err },
		} {
			err := call()
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: err = %v, want ErrInvalid", name, err)
				continue
			}
			if testing.Verbose() {
				t.Logf("%s: %v", name, err)
			}
		}
		if after := snapshot(); after != before {
			t.Errorf("bad input changed the store:\nbefore %s\nafter  %s", before, after)
		}
	})
}
