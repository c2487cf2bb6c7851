-- At most one pending approval request per diagnosis: two people clicking
-- "Request approval" on the same answer at once (or two replicas) must not
-- ask the approvers twice. The check before the insert cannot see a
-- concurrent insert; this index can.
--
-- A database from before the index may already hold such duplicates: the
-- newest pending request of a diagnosis stays, the older ones are superseded
-- by it, each with an audit record saying so, as a transition would write.
-- (This file was first released without these two statements; it failed, and
-- so was never recorded, on exactly the databases they change.)
INSERT INTO audit_log (request_id, tenant_id, actor, action, from_state, to_state, occurred_at, detail)
SELECT r.id, r.tenant_id, 'ca-check', 'superseded', 'pending', 'superseded',
	date_trunc('microseconds', now()),
	convert_to(json_build_object(
		'why', 'replaced by the newer pending request ' || substr(n.id, 1, 8) || ' for the same diagnosis, when ca-check began allowing one pending request per diagnosis',
		'newRequest', n.id)::text, 'UTF8')
FROM requests r
JOIN requests n ON n.id = (
	SELECT id FROM requests
	WHERE diagnosis_id = r.diagnosis_id AND state = 'pending'
	ORDER BY created_at DESC, id DESC LIMIT 1)
WHERE r.state = 'pending' AND r.diagnosis_id IS NOT NULL AND n.id <> r.id
ORDER BY r.created_at, r.id;

-- A superseded request is never pending again, so the records just written
-- are the only superseded records of a pending request.
UPDATE requests SET
	state = 'superseded',
	version = version + 1,
	updated_at = (SELECT MAX(occurred_at) FROM audit_log a WHERE a.request_id = requests.id AND a.action = 'superseded')
WHERE state = 'pending'
	AND id IN (SELECT request_id FROM audit_log WHERE action = 'superseded' AND request_id IS NOT NULL);

CREATE UNIQUE INDEX requests_one_pending_per_diagnosis
	ON requests (diagnosis_id) WHERE state = 'pending' AND diagnosis_id IS NOT NULL;
