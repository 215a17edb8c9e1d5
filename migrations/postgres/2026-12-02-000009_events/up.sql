-- Events: an append-only log of the changes that matter to someone, written in the same
-- transaction as the change (an outbox). `seq` is the commit order: on PostgreSQL every
-- event-writing transaction takes one advisory lock before it writes its events, so that no
-- event commits behind one with a greater seq; on SQLite writers are serialized already.
CREATE TABLE events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    employer_id TEXT NOT NULL REFERENCES employers (id),
    data TEXT NOT NULL,
    once_key TEXT UNIQUE
);
CREATE INDEX events_employer ON events (employer_id, seq);

-- The funders an event concerns: those that see their copy of it.
CREATE TABLE event_funders (
    seq BIGINT NOT NULL REFERENCES events (seq),
    funder_id TEXT NOT NULL REFERENCES funders (id),
    PRIMARY KEY (funder_id, seq)
);
