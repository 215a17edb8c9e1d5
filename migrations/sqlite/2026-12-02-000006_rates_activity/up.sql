-- Funding the way conventions are written: dated rates and activity keys (DOMAIN.md).
-- SQLite cannot change a CHECK constraint in place: the commitments table is rebuilt as its
-- documentation prescribes (foreign keys off, outside diesel's transaction, in one of ours).
PRAGMA foreign_keys = OFF;
BEGIN;
-- Dated rates: a named amount per full-time post per year, changing on given months. A value
-- is never changed or removed; a later value for the same month supersedes the earlier one,
-- and both are kept.
CREATE TABLE rates (
    code TEXT PRIMARY KEY NOT NULL CHECK (length(code) BETWEEN 1 AND 64),
    label TEXT NOT NULL,
    created_at TEXT NOT NULL,
    recorded_by_sub TEXT NOT NULL,
    recorded_by_role TEXT NOT NULL,
    request_id TEXT
);

CREATE TABLE rate_values (
    id TEXT PRIMARY KEY NOT NULL,
    rate_code TEXT NOT NULL REFERENCES rates (code),
    from_month TEXT NOT NULL CHECK (length(from_month) = 7),
    annual_amount_cents BIGINT NOT NULL CHECK (annual_amount_cents >= 0),
    created_at TEXT NOT NULL,
    recorded_by_sub TEXT NOT NULL,
    recorded_by_role TEXT NOT NULL,
    request_id TEXT
);
CREATE INDEX rate_values_rate ON rate_values (rate_code, from_month, created_at);

-- Commitments take the bases `rate` (a rate's code and an FTE) and `activity` (no amount).
CREATE TABLE commitments_rebuilt (
    id TEXT PRIMARY KEY NOT NULL,
    employer_id TEXT NOT NULL REFERENCES employers (id),
    post_id TEXT NOT NULL REFERENCES posts (id),
    funder_id TEXT NOT NULL REFERENCES funders (id),
    basis TEXT NOT NULL CHECK (basis IN ('fixed', 'share', 'rate', 'activity')),
    monthly_amount_cents BIGINT CHECK (monthly_amount_cents IS NULL OR monthly_amount_cents > 0),
    percent_ten_thousandths BIGINT CHECK (percent_ten_thousandths IS NULL
        OR percent_ten_thousandths BETWEEN 1 AND 1000000),
    rate_code TEXT REFERENCES rates (code),
    fte_hundredths BIGINT CHECK (fte_hundredths IS NULL OR fte_hundredths BETWEEN 1 AND 100),
    start_month TEXT NOT NULL CHECK (length(start_month) = 7),
    end_month TEXT NOT NULL CHECK (end_month >= start_month),
    cap_cents BIGINT CHECK (cap_cents IS NULL OR cap_cents > 0),
    reference TEXT NOT NULL,
    created_at TEXT NOT NULL,
    recorded_by_sub TEXT NOT NULL DEFAULT 'migration',
    recorded_by_role TEXT NOT NULL DEFAULT 'system',
    request_id TEXT,
    CHECK ((basis = 'fixed' AND monthly_amount_cents IS NOT NULL AND percent_ten_thousandths IS NULL
            AND rate_code IS NULL AND fte_hundredths IS NULL)
        OR (basis = 'share' AND percent_ten_thousandths IS NOT NULL AND monthly_amount_cents IS NULL
            AND rate_code IS NULL AND fte_hundredths IS NULL)
        OR (basis = 'rate' AND rate_code IS NOT NULL AND fte_hundredths IS NOT NULL
            AND monthly_amount_cents IS NULL AND percent_ten_thousandths IS NULL)
        OR (basis = 'activity' AND rate_code IS NULL AND fte_hundredths IS NULL
            AND monthly_amount_cents IS NULL AND percent_ten_thousandths IS NULL))
);
INSERT INTO commitments_rebuilt (id, employer_id, post_id, funder_id, basis, monthly_amount_cents, percent_ten_thousandths, start_month, end_month, cap_cents, reference, created_at, recorded_by_sub, recorded_by_role, request_id) SELECT id, employer_id, post_id, funder_id, basis, monthly_amount_cents, percent_ten_thousandths, start_month, end_month, cap_cents, reference, created_at, recorded_by_sub, recorded_by_role, request_id FROM commitments;
DROP TABLE commitments;
ALTER TABLE commitments_rebuilt RENAME TO commitments;
CREATE INDEX commitments_post ON commitments (post_id, start_month);
CREATE INDEX commitments_funder ON commitments (funder_id, post_id);

-- A post's hours for a month, by activity commitment, and the hours on none of them. Each PUT
-- adds a record; the latest recorded for a (post, month) is in force, the earlier are kept.
CREATE TABLE activity_records (
    id TEXT PRIMARY KEY NOT NULL,
    employer_id TEXT NOT NULL REFERENCES employers (id),
    post_id TEXT NOT NULL REFERENCES posts (id),
    month TEXT NOT NULL CHECK (length(month) = 7),
    other_hours_hundredths BIGINT NOT NULL CHECK (other_hours_hundredths >= 0),
    created_at TEXT NOT NULL,
    recorded_by_sub TEXT NOT NULL,
    recorded_by_role TEXT NOT NULL,
    request_id TEXT
);
CREATE INDEX activity_records_post ON activity_records (post_id, month, created_at);

CREATE TABLE activity_hours (
    record_id TEXT NOT NULL REFERENCES activity_records (id),
    commitment_id TEXT NOT NULL REFERENCES commitments (id),
    hours_hundredths BIGINT NOT NULL CHECK (hours_hundredths >= 0),
    PRIMARY KEY (record_id, commitment_id)
);
COMMIT;
PRAGMA foreign_keys = ON;
