-- Funding the way conventions are written: dated rates and activity keys (DOMAIN.md).
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
ALTER TABLE commitments ADD COLUMN rate_code TEXT REFERENCES rates (code);
ALTER TABLE commitments ADD COLUMN fte_hundredths BIGINT
    CHECK (fte_hundredths IS NULL OR fte_hundredths BETWEEN 1 AND 100);
ALTER TABLE commitments DROP CONSTRAINT commitments_basis_check;
ALTER TABLE commitments ADD CONSTRAINT commitments_basis_check
    CHECK (basis IN ('fixed', 'share', 'rate', 'activity'));
ALTER TABLE commitments DROP CONSTRAINT commitments_check1;
ALTER TABLE commitments ADD CONSTRAINT commitments_check1
    CHECK ((basis = 'fixed' AND monthly_amount_cents IS NOT NULL AND percent_ten_thousandths IS NULL
            AND rate_code IS NULL AND fte_hundredths IS NULL)
        OR (basis = 'share' AND percent_ten_thousandths IS NOT NULL AND monthly_amount_cents IS NULL
            AND rate_code IS NULL AND fte_hundredths IS NULL)
        OR (basis = 'rate' AND rate_code IS NOT NULL AND fte_hundredths IS NOT NULL
            AND monthly_amount_cents IS NULL AND percent_ten_thousandths IS NULL)
        OR (basis = 'activity' AND rate_code IS NULL AND fte_hundredths IS NULL
            AND monthly_amount_cents IS NULL AND percent_ten_thousandths IS NULL));

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
