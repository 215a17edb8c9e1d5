-- Month-end at scale: posts carry the employer's own code, and files of lines are imported
-- as one record (all or nothing), which the costs it created name.
ALTER TABLE posts ADD COLUMN reference TEXT CHECK (reference IS NULL OR length(reference) BETWEEN 1 AND 64);
CREATE UNIQUE INDEX posts_reference ON posts (employer_id, reference) WHERE reference IS NOT NULL;

CREATE TABLE imports (
    id TEXT PRIMARY KEY NOT NULL,
    employer_id TEXT NOT NULL REFERENCES employers (id),
    kind TEXT NOT NULL CHECK (kind IN ('costs', 'posts', 'commitments', 'activity')),
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
    format TEXT NOT NULL CHECK (format IN ('json', 'csv')),
    line_count BIGINT NOT NULL CHECK (line_count >= 0),
    total_cents BIGINT,
    months TEXT NOT NULL,
    reversed_at TEXT,
    created_at TEXT NOT NULL,
    recorded_by_sub TEXT NOT NULL,
    recorded_by_role TEXT NOT NULL,
    request_id TEXT
);
CREATE INDEX imports_file ON imports (employer_id, sha256);

ALTER TABLE costs ADD COLUMN import_id TEXT REFERENCES imports (id);
CREATE INDEX costs_import ON costs (import_id) WHERE import_id IS NOT NULL;
