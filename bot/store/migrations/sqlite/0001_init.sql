-- The bot's state. Times are INTEGER Unix nanoseconds, UTC (multiples of 1000:
-- the store keeps microseconds, PostgreSQL's precision). JSON documents are BLOBs,
-- opaque to SQL. STRICT makes SQLite refuse a value of the wrong type.

-- A Slack channel linked to a customer tenant.
CREATE TABLE channel_links (
	channel_id  TEXT    NOT NULL PRIMARY KEY,
	tenant_id   TEXT    NOT NULL,
	tenant_name TEXT    NOT NULL,
	linked_by   TEXT    NOT NULL,
	linked_at   INTEGER NOT NULL
) STRICT;

-- Keys of Slack events and thread replies already handled, so a retried delivery or
-- a second replica does the work once.
CREATE TABLE claims (
	claim_key  TEXT    NOT NULL PRIMARY KEY,
	claimed_at INTEGER NOT NULL
) STRICT;
CREATE INDEX claims_claimed_at ON claims (claimed_at);

-- AUTOINCREMENT: an ID is never reused, because approval requests point at it.
CREATE TABLE diagnoses (
	id           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	tenant_id    TEXT    NOT NULL,
	tenant_name  TEXT    NOT NULL,
	channel_id   TEXT    NOT NULL,
	thread_ts    TEXT    NOT NULL,
	requested_by TEXT    NOT NULL,
	verdict      TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	result       BLOB
) STRICT;
CREATE INDEX diagnoses_created_at ON diagnoses (created_at);

CREATE TABLE approvers (
	tenant_id     TEXT    NOT NULL,
	slack_user_id TEXT    NOT NULL,
	added_by      TEXT    NOT NULL,
	added_at      INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, slack_user_id)
) STRICT;

-- Approval requests. state changes only by compare-and-swap on (id, state).
CREATE TABLE requests (
	id           TEXT    NOT NULL PRIMARY KEY,
	tenant_id    TEXT    NOT NULL,
	tenant_name  TEXT    NOT NULL,
	diagnosis_id INTEGER REFERENCES diagnoses (id),
	requested_by TEXT    NOT NULL,
	channel_id   TEXT    NOT NULL,
	thread_ts    TEXT    NOT NULL,
	state        TEXT    NOT NULL,
	plans        BLOB    NOT NULL,
	result       BLOB,
	reason       TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	decided_by   TEXT    NOT NULL,
	version      INTEGER NOT NULL
) STRICT;
CREATE INDEX requests_state_expires_at ON requests (state, expires_at);
CREATE INDEX requests_tenant_state ON requests (tenant_id, state);

-- Append-only: the triggers below refuse UPDATE and DELETE.
CREATE TABLE audit_log (
	id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	request_id  TEXT    REFERENCES requests (id),
	tenant_id   TEXT    NOT NULL,
	actor       TEXT    NOT NULL,
	action      TEXT    NOT NULL,
	from_state  TEXT    NOT NULL,
	to_state    TEXT    NOT NULL,
	occurred_at INTEGER NOT NULL,
	detail      BLOB
) STRICT;
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, occurred_at, id);
CREATE INDEX audit_log_request ON audit_log (request_id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;
