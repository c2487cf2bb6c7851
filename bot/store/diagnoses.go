package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
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
