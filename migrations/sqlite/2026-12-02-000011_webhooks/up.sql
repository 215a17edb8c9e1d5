-- Webhooks (see the PostgreSQL migration). A webhook.disabled event of a funder's or the
-- mission's webhook concerns no employer: SQLite cannot drop NOT NULL in place, so the events
-- table is rebuilt as its documentation prescribes (foreign keys off, outside diesel's
-- transaction, in one of ours); event_funders keeps referring to it by name.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE events_rebuilt (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    employer_id TEXT REFERENCES employers (id),
    data TEXT NOT NULL,
    once_key TEXT UNIQUE
);
INSERT INTO events_rebuilt (seq, id, type, occurred_at, employer_id, data, once_key)
    SELECT seq, id, type, occurred_at, employer_id, data, once_key FROM events;
DROP TABLE events;
ALTER TABLE events_rebuilt RENAME TO events;
CREATE INDEX events_employer ON events (employer_id, seq);

-- Webhooks: a party's subscription to its own events. `after_seq` is the last event (by its
-- commit-ordered seq) already queued for it; events before the webhook was created are not
-- sent. `lease_owner`/`lease_until` let one server at a time deliver for a webhook, so that
-- a webhook has one attempt in flight and several servers never send the same attempt twice.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY NOT NULL,
    owner_role TEXT NOT NULL CHECK (owner_role IN ('employer', 'funder', 'mission', 'admin')),
    owner_id TEXT,
    url TEXT NOT NULL,
    types TEXT NOT NULL,
    description TEXT,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_until TEXT,
    after_seq BIGINT NOT NULL,
    failing_since TEXT,
    lease_owner TEXT,
    lease_until TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    recorded_by_sub TEXT NOT NULL,
    recorded_by_role TEXT NOT NULL,
    request_id TEXT
);
CREATE INDEX webhooks_owner ON webhooks (owner_role, owner_id);

-- One message to one webhook and what came of it. The payload is fixed when it is queued, so
-- that every retry sends the same bytes under the same `webhook-id` (`message_id`).
CREATE TABLE webhook_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    message_id TEXT NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_attempt_at TEXT,
    response_status INTEGER,
    error TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (webhook_id, message_id)
);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (webhook_id, status, seq);
COMMIT;
PRAGMA foreign_keys = ON;
