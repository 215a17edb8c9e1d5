-- The last continuity risk recorded per post, so that a sweep records a change of risk once.
CREATE TABLE post_risks (
    post_id TEXT PRIMARY KEY NOT NULL REFERENCES posts (id),
    risk TEXT NOT NULL CHECK (risk IN ('green', 'amber', 'red')),
    as_of TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
