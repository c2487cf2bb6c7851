-- The bot's state; see migrations/sqlite/0001_init.sql for the same schema in SQLite.
-- Times are timestamptz (microseconds). JSON documents are bytea: opaque, returned
-- byte for byte (jsonb would reorder keys).

CREATE TABLE channel_links (
	channel_id  text        NOT NULL PRIMARY KEY,
	tenant_id   text        NOT NULL,
	tenant_name text        NOT NULL,
	linked_by   text        NOT NULL,
	linked_at   timestamptz NOT NULL
);

CREATE TABLE claims (
	claim_key  text        NOT NULL PRIMARY KEY,
	claimed_at timestamptz NOT NULL
);
CREATE INDEX claims_claimed_at ON claims (claimed_at);

CREATE TABLE diagnoses (
	id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id    text        NOT NULL,
	tenant_name  text        NOT NULL,
	channel_id   text        NOT NULL,
	thread_ts    text        NOT NULL,
	requested_by text        NOT NULL,
	verdict      text        NOT NULL,
	created_at   timestamptz NOT NULL,
	result       bytea
);
CREATE INDEX diagnoses_created_at ON diagnoses (created_at);

CREATE TABLE approvers (
	tenant_id     text        NOT NULL,
	slack_user_id text        NOT NULL,
	added_by      text        NOT NULL,
	added_at      timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, slack_user_id)
);

CREATE TABLE requests (
	id           text        NOT NULL PRIMARY KEY,
	tenant_id    text        NOT NULL,
	tenant_name  text        NOT NULL,
	diagnosis_id bigint      REFERENCES diagnoses (id),
	requested_by text        NOT NULL,
	channel_id   text        NOT NULL,
	thread_ts    text        NOT NULL,
	state        text        NOT NULL,
	plans        bytea       NOT NULL,
	result       bytea,
	reason       text        NOT NULL,
	created_at   timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL,
	decided_by   text        NOT NULL,
	version      bigint      NOT NULL
);
CREATE INDEX requests_state_expires_at ON requests (state, expires_at);
CREATE INDEX requests_tenant_state ON requests (tenant_id, state);

CREATE TABLE audit_log (
	id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	request_id  text        REFERENCES requests (id),
	tenant_id   text        NOT NULL,
	actor       text        NOT NULL,
	action      text        NOT NULL,
	from_state  text        NOT NULL,
	to_state    text        NOT NULL,
	occurred_at timestamptz NOT NULL,
	detail      bytea
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, occurred_at, id);
CREATE INDEX audit_log_request ON audit_log (request_id);

-- Append-only, whoever connects: refuse UPDATE, DELETE and TRUNCATE.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
