-- The approval sweep looks every minute, on every replica, at the requests
-- settled in the last day: by state and last change, not through every
-- request ever settled.
CREATE INDEX requests_state_updated_at ON requests (state, updated_at);
