-- The approval sweep looks every minute, on every replica, at the requests
-- settled in the last day: by state and last change, not through every
-- request ever settled.
CREATE INDEX requests_state_updated_at ON requests (state, updated_at);

-- Pruning old diagnoses finds the requests that point at them, and the
-- foreign key checks each deleted diagnosis for them: without an index,
-- each a pass over every request. (The unique index of 0002 holds pending
-- requests only.)
CREATE INDEX requests_diagnosis ON requests (diagnosis_id);
