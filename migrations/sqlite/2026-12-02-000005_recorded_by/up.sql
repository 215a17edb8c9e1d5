-- Who did what: every recorded resource and journal entry keeps the token's sub and role and
-- the request that wrote it (its X-Request-Id). Part of the append-only record: never updated.
-- Rows written before this migration were written by no token we can name: 'system'.

ALTER TABLE employers ADD COLUMN recorded_by_sub TEXT NOT NULL DEFAULT 'migration';
ALTER TABLE employers ADD COLUMN recorded_by_role TEXT NOT NULL DEFAULT 'system';
ALTER TABLE employers ADD COLUMN request_id TEXT;
ALTER TABLE funders ADD COLUMN recorded_by_sub TEXT NOT NULL DEFAULT 'migration';
ALTER TABLE funders ADD COLUMN recorded_by_role TEXT NOT NULL DEFAULT 'system';
ALTER TABLE funders ADD COLUMN request_id TEXT;
ALTER TABLE posts ADD COLUMN recorded_by_sub TEXT NOT NULL DEFAULT 'migration';
ALTER TABLE posts ADD COLUMN recorded_by_role TEXT NOT NULL DEFAULT 'system';
ALTER TABLE posts ADD COLUMN request_id TEXT;
ALTER TABLE commitments ADD COLUMN recorded_by_sub TEXT NOT NULL DEFAULT 'migration';
ALTER TABLE commitments ADD COLUMN recorded_by_role TEXT NOT NULL DEFAULT 'system';
ALTER TABLE commitments ADD COLUMN request_id TEXT;
ALTER TABLE costs ADD COLUMN recorded_by_sub TEXT NOT NULL DEFAULT 'migration';
ALTER TABLE costs ADD COLUMN recorded_by_role TEXT NOT NULL DEFAULT 'system';
ALTER TABLE costs ADD COLUMN request_id TEXT;
ALTER TABLE journal_entries ADD COLUMN recorded_by_sub TEXT NOT NULL DEFAULT 'migration';
ALTER TABLE journal_entries ADD COLUMN recorded_by_role TEXT NOT NULL DEFAULT 'system';
ALTER TABLE journal_entries ADD COLUMN request_id TEXT;
ALTER TABLE calls ADD COLUMN recorded_by_sub TEXT NOT NULL DEFAULT 'migration';
ALTER TABLE calls ADD COLUMN recorded_by_role TEXT NOT NULL DEFAULT 'system';
ALTER TABLE calls ADD COLUMN request_id TEXT;
ALTER TABLE payments ADD COLUMN recorded_by_sub TEXT NOT NULL DEFAULT 'migration';
ALTER TABLE payments ADD COLUMN recorded_by_role TEXT NOT NULL DEFAULT 'system';
ALTER TABLE payments ADD COLUMN request_id TEXT;
ALTER TABLE closed_periods ADD COLUMN recorded_by_sub TEXT NOT NULL DEFAULT 'migration';
ALTER TABLE closed_periods ADD COLUMN recorded_by_role TEXT NOT NULL DEFAULT 'system';
ALTER TABLE closed_periods ADD COLUMN request_id TEXT;

-- The credit note of a cancelled call: who issued it and when.
ALTER TABLE calls ADD COLUMN cancelled_by_sub TEXT;
ALTER TABLE calls ADD COLUMN cancelled_by_role TEXT;
ALTER TABLE calls ADD COLUMN cancelled_at TEXT;
ALTER TABLE calls ADD COLUMN cancel_request_id TEXT;
