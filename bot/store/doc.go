// Package store keeps the bot's state: channel links, claimed Slack events,
// diagnoses shown in Slack, approvers, approval requests and their audit log.
//
// One implementation serves two databases through database/sql: SQLite
// (modernc.org/sqlite, no cgo), the embedded default for a single replica, and
// PostgreSQL (pgx), for several replicas sharing one database. Open picks the
// backend from the DSN. The SQL is common; the differences (placeholders, how a
// time is stored, the migration lock) live in dialect.go.
//
// Every change that must happen once however many replicas or clicks race for
// it is a single conditional statement, so the database decides the winner:
// Claim is INSERT … ON CONFLICT DO NOTHING, and Transition is
// UPDATE … WHERE id = ? AND state = ?. The loser gets ErrConflict (or first
// == false) and must not act. A process at work on a request holds its
// lease (lease_holder, lease_until): Lapsed finds the requests of dead
// processes, and TakeLease hands each to one other process.
//
// Approval requests follow the state machine of DESIGN.md "Approvals"
// (see approval.Allowed). Every transition writes its audit record in the same
// transaction, and the audit log is append-only: the schema refuses UPDATE and
// DELETE on it.
//
// Diagnoses are kept until PruneDiagnoses deletes them (the bot's
// retention), except while an open request still needs one; approval
// requests and the audit log are kept.
//
// Times are stored in UTC with microsecond precision (PostgreSQL's), so a time
// read back is the time written, truncated to the microsecond, in UTC, from
// either backend.
package store
