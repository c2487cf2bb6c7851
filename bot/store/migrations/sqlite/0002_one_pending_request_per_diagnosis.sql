-- At most one pending approval request per diagnosis: two people clicking
-- "Request approval" on the same answer at once (or two replicas) must not
-- ask the approvers twice. The check before the insert cannot see a
-- concurrent insert; this index can.
CREATE UNIQUE INDEX requests_one_pending_per_diagnosis
	ON requests (diagnosis_id) WHERE state = 'pending' AND diagnosis_id IS NOT NULL;
