-- Fleet scans (scan package): one row per scan, one result per tenant scanned.
-- A scan goes listing -> running -> finished, or to failed when the partner's
-- customers cannot be listed; each change is a compare-and-swap on state, so
-- the replicas that race to finish a scan finish it once.
CREATE TABLE scans (
	id             TEXT        NOT NULL PRIMARY KEY,
	requested_by   TEXT        NOT NULL,
	channel_id     TEXT        NOT NULL,
	full_scan      BOOLEAN     NOT NULL,
	options        BYTEA,
	state          TEXT        NOT NULL,
	total          INTEGER     NOT NULL,
	created_at     timestamptz NOT NULL,
	finished_at    timestamptz,
	error          TEXT        NOT NULL,
	summary        BYTEA,
	digest_sent_at timestamptz
);
CREATE INDEX scans_full_finished ON scans (full_scan, state, created_at);

-- The primary key makes a tenant's result count once, however often its job
-- runs (a retry, a replica that died after writing it).
CREATE TABLE scan_results (
	scan_id     TEXT        NOT NULL REFERENCES scans (id),
	tenant_id   TEXT        NOT NULL,
	verdict     TEXT        NOT NULL,
	result      BYTEA       NOT NULL,
	finished_at timestamptz NOT NULL,
	PRIMARY KEY (scan_id, tenant_id)
);
