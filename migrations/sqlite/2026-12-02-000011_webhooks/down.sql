PRAGMA foreign_keys = OFF;
BEGIN;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DELETE FROM event_funders WHERE seq IN (SELECT seq FROM events WHERE employer_id IS NULL);
CREATE TABLE events_rebuilt (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    employer_id TEXT NOT NULL REFERENCES employers (id),
    data TEXT NOT NULL,
    once_key TEXT UNIQUE
);
INSERT INTO events_rebuilt SELECT * FROM events WHERE employer_id IS NOT NULL;
DROP TABLE events;
ALTER TABLE events_rebuilt RENAME TO events;
CREATE INDEX events_employer ON events (employer_id, seq);
COMMIT;
PRAGMA foreign_keys = ON;
