package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cacheck/ca-check/approval"
)

// DiagnosisRecord is a diagnosis shown in Slack: App Home lists recent ones,
// and an approval request points at the one it came from.
type DiagnosisRecord struct {
	ID          int64 // assigned by SaveDiagnosis
	TenantID    string
	TenantName  string
	ChannelID   string // where it was shown
	ThreadTS    string
	RequestedBy string    // Slack user ID
	Verdict     string    // diagnose's overall verdict
	CreatedAt   time.Time // zero means now
	Result      []byte    // JSON of diagnose.Diagnosis, opaque here
}

// SaveDiagnosis stores r and returns its new ID (r.ID is ignored).
func (s *Store) SaveDiagnosis(ctx context.Context, r DiagnosisRecord) (int64, error) {
	if err := required("verdict", r.Verdict); err != nil {
		return 0, err
	}
	if err := checkJSON("diagnosis result", r.Result); err != nil {
		return 0, err
	}
	at, err := normTime(r.CreatedAt, "CreatedAt", true)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.db.QueryRowContext(ctx, s.d.rebind(`
		INSERT INTO diagnoses (tenant_id, tenant_name, channel_id, thread_ts, requested_by, verdict, created_at, result)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING id`),
		r.TenantID, r.TenantName, r.ChannelID, r.ThreadTS, r.RequestedBy, r.Verdict, s.d.timeArg(at), nullBytes(r.Result)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: save diagnosis: %w", err)
	}
	return id, nil
}

const diagnosisColumns = `id, tenant_id, tenant_name, channel_id, thread_ts, requested_by, verdict, created_at, result`

func scanDiagnosis(row interface{ Scan(...any) error }) (DiagnosisRecord, error) {
	var r DiagnosisRecord
	err := row.Scan(&r.ID, &r.TenantID, &r.TenantName, &r.ChannelID, &r.ThreadTS, &r.RequestedBy, &r.Verdict,
		timeScanner{&r.CreatedAt}, &r.Result)
	return r, err
}

// Diagnosis returns the diagnosis with the given ID; ErrNotFound if none.
func (s *Store) Diagnosis(ctx context.Context, id int64) (DiagnosisRecord, error) {
	if id <= 0 {
		return DiagnosisRecord{}, fmt.Errorf("%w: diagnosis ID %d is not positive", ErrInvalid, id)
	}
	r, err := scanDiagnosis(s.rdb.QueryRowContext(ctx, s.d.rebind(`SELECT `+diagnosisColumns+` FROM diagnoses WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return DiagnosisRecord{}, fmt.Errorf("diagnosis %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return DiagnosisRecord{}, fmt.Errorf("store: diagnosis %d: %w", id, err)
	}
	return r, nil
}

// RecentDiagnoses returns up to limit diagnoses, newest first.
func (s *Store) RecentDiagnoses(ctx context.Context, limit int) ([]DiagnosisRecord, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, s.d.rebind(`SELECT `+diagnosisColumns+` FROM diagnoses ORDER BY created_at DESC, id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("store: recent diagnoses: %w", err)
	}
	defer rows.Close()
	var rs []DiagnosisRecord
	for rows.Next() {
		r, err := scanDiagnosis(rows)
		if err != nil {
			return nil, fmt.Errorf("store: recent diagnoses: %w", err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: recent diagnoses: %w", err)
	}
	return rs, nil
}

// openStates are the states in which a request still needs its diagnosis:
// from them it may be applied again, and applying re-plans from the
// diagnosis's scenario when a policy changed since the plan. A settled
// request (applied, rejected, expired, superseded, reverted) carries its
// plans and outcomes itself.
var openStates = []approval.State{approval.StatePending, approval.StateApproved, approval.StateApplying, approval.StateFailed}

// pruneBatch is how many diagnoses one transaction of PruneDiagnoses
// deletes: a first prune of a long history must not hold SQLite's one
// write lock for long.
const pruneBatch = 500

// PruneDiagnoses deletes the diagnoses made before the given time and
// reports how many. A diagnosis that a request in an open state (pending,
// approved, applying, failed) points at is kept until the request settles;
// a settled request keeps everything but the pointer (its DiagnosisID
// becomes 0). Audit records are not touched.
func (s *Store) PruneDiagnoses(ctx context.Context, before time.Time) (int64, error) {
	return s.pruneDiagnoses(ctx, before, pruneBatch)
}

func (s *Store) pruneDiagnoses(ctx context.Context, before time.Time, batch int) (int64, error) {
	at, err := normTime(before, "prune time", false)
	if err != nil {
		return 0, err
	}
	open, openArgs, err := stateList(openStates)
	if err != nil {
		return 0, err
	}
	var total int64
	for {
		var n int64
		var ids []any
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, s.d.rebind(`
				SELECT id FROM diagnoses d
				WHERE created_at < ?
					AND NOT EXISTS (SELECT 1 FROM requests WHERE diagnosis_id = d.id AND state IN (`+open+`))
				ORDER BY created_at, id LIMIT ?`), append(append([]any{s.d.timeArg(at)}, openArgs...), batch)...)
			if err != nil {
				return err
			}
			ids = ids[:0]
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil || len(ids) == 0 {
				return err
			}
			marks := placeholders(len(ids))
			// A request made for one of them since the SELECT (a click on
			// a 90-day-old answer) keeps its pointer, and the foreign key
			// then refuses the DELETE: this batch is left for the next
			// prune, which sees the request.
			if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE requests SET diagnosis_id = NULL
				WHERE diagnosis_id IN (`+marks+`) AND state NOT IN (`+open+`)`),
				append(append([]any{}, ids...), openArgs...)...); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, s.d.rebind(`DELETE FROM diagnoses WHERE id IN (`+marks+`)`), ids...)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("store: prune diagnoses: %w", err)
		}
		total += n
		if len(ids) < batch {
			return total, nil
		}
	}
}
