-- Fleet scans (scan package): one row per scan, one result per tenant scanned.
-- A scan goes listing -> running -> finished, or to failed when the partner's
-- customers cannot be listed; each change is a compare-and-swap on state, so
-- the replicas that race to finish a scan finish it once.
CREATE TABLE scans (
	id             TEXT    NOT NULL PRIMARY KEY,
	requested_by   TEXT    NOT NULL,
	channel_id     TEXT    NOT NULL,
	full_scan      INTEGER NOT NULL,
	options        BLOB,
	state          TEXT    NOT NULL,
	total          INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	finished_at    INTEGER,
	error          TEXT    NOT NULL,
	summary        BLOB,
	digest_sent_at INTEGER
) STRICT;
CREATE INDEX scans_full_finished ON scans (full_scan, state, created_at);

-- The primary key makes a tenant's result count once, however often its job
-- runs (a retry, a replica that died after writing it).
CREATE TABLE scan_results (
	scan_id     TEXT    NOT NULL REFERENCES scans (id),
	tenant_id   TEXT    NOT NULL,
	verdict     TEXT    NOT NULL,
	result      BLOB    NOT NULL,
	finished_at INTEGER NOT NULL,
	PRIMARY KEY (scan_id, tenant_id)
) STRICT;
