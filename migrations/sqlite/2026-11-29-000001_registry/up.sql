-- The registry: employers, funders, posts and their budgets, plus the service's own
-- bookkeeping (idempotency keys and the SQLite write gate).

CREATE TABLE employers (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind TEXT NOT NULL CHECK (kind IN ('association', 'employer_grouping', 'local_authority',
        'public_interest_group', 'social_landlord', 'transport_operator', 'other')),
    siren TEXT CHECK (siren IS NULL OR length(siren) = 9),
    territory TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE funders (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind TEXT NOT NULL CHECK (kind IN ('state', 'region', 'department', 'municipality',
        'intermunicipality', 'social_landlord', 'transport_operator', 'utility', 'public_bank',
        'company', 'other')),
    siren TEXT CHECK (siren IS NULL OR length(siren) = 9),
    created_at TEXT NOT NULL
);

CREATE TABLE posts (
    id TEXT PRIMARY KEY NOT NULL,
    employer_id TEXT NOT NULL REFERENCES employers (id),
    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    territory TEXT NOT NULL,
    activity TEXT NOT NULL CHECK (activity IN ('housing', 'transport', 'education', 'health',
        'public_space', 'access_to_rights', 'other')),
    fte_hundredths BIGINT NOT NULL CHECK (fte_hundredths BETWEEN 1 AND 100),
    start_month TEXT NOT NULL CHECK (length(start_month) = 7),
    end_month TEXT CHECK (end_month IS NULL OR end_month >= start_month),
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE INDEX posts_employer ON posts (employer_id, id);

-- The budget of a post from a month on: the row with the latest from_month not after a month
-- gives that month's budget.
CREATE TABLE post_budgets (
    post_id TEXT NOT NULL REFERENCES posts (id),
    from_month TEXT NOT NULL CHECK (length(from_month) = 7),
    monthly_amount_cents BIGINT NOT NULL CHECK (monthly_amount_cents >= 0),
    PRIMARY KEY (post_id, from_month)
);

-- Client-supplied idempotency keys, scoped to the caller. A row is 'in_flight' while its
-- request runs and 'done' with the response once it has committed.
CREATE TABLE idempotency_keys (
    caller TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    response_status INTEGER,
    response_location TEXT,
    response_body TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (caller, idempotency_key)
);

-- One row that every SQLite write transaction updates first, so that writers take the
-- database's write lock before they read anything (the effect of BEGIN IMMEDIATE).
CREATE TABLE write_gate (
    id INTEGER PRIMARY KEY NOT NULL,
    turns BIGINT NOT NULL
);
INSERT INTO write_gate (id, turns) VALUES (1, 0);
