-- Recovery by lease. The process at work on a request (approving and
-- applying it, reverting it, or telling its outcome) holds a lease on it,
-- lease_holder until lease_until, that it renews while it works; when it
-- dies the lease lapses, and any process takes the request over (see
-- store.Lapsed). reverting becomes a state of its own (no migration: no
-- request is in it yet), report_due says that an apply's outcome is still
-- to be told, and applied_at is when the request became applied, where
-- its revert window starts (updated_at moves with every revert attempt).
ALTER TABLE requests ADD COLUMN lease_holder text NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN lease_until timestamptz;
ALTER TABLE requests ADD COLUMN report_due boolean NOT NULL DEFAULT false;
ALTER TABLE requests ADD COLUMN applied_at timestamptz;

-- Before leases, an applied request changed state last when it was applied.
UPDATE requests SET applied_at = updated_at WHERE state = 'applied';

-- An outcome an older ca-check settled in the last day and did not report
-- (its settling record says reportDue, and no "reported" record follows):
-- due, leased as that ca-check would have waited (5 minutes after the
-- settling), so that a process still running it reports it first.
-- Requests left approved or applying keep no lease: store.Lapsed takes
-- them for abandoned 5 minutes after their last change, as that ca-check
-- did.
UPDATE requests SET report_due = true, lease_until = updated_at + interval '5 minutes'
WHERE state IN ('applied', 'failed', 'superseded')
	AND updated_at > now() - interval '1 day'
	AND EXISTS (
		SELECT 1 FROM audit_log a
		WHERE a.request_id = requests.id AND a.from_state = 'applying'
			AND a.detail IS NOT NULL
			AND (convert_from(a.detail, 'UTF8')::jsonb -> 'reportDue') = 'true'::jsonb
			AND NOT EXISTS (
				SELECT 1 FROM audit_log b
				WHERE b.request_id = requests.id AND b.id > a.id AND (b.action = 'reported' OR b.from_state = 'applying')));

-- Every sweep, on every process, looks for lapsed leases: through the
-- leased requests alone.
CREATE INDEX requests_lease_until ON requests (lease_until) WHERE lease_until IS NOT NULL;
