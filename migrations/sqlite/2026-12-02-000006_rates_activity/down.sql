PRAGMA foreign_keys = OFF;
BEGIN;
DROP TABLE activity_hours;
DROP TABLE activity_records;
CREATE TABLE commitments_rebuilt (
    id TEXT PRIMARY KEY NOT NULL,
    employer_id TEXT NOT NULL REFERENCES employers (id),
    post_id TEXT NOT NULL REFERENCES posts (id),
    funder_id TEXT NOT NULL REFERENCES funders (id),
    basis TEXT NOT NULL CHECK (basis IN ('fixed', 'share')),
    monthly_amount_cents BIGINT CHECK (monthly_amount_cents IS NULL OR monthly_amount_cents > 0),
    percent_ten_thousandths BIGINT CHECK (percent_ten_thousandths IS NULL
        OR percent_ten_thousandths BETWEEN 1 AND 1000000),
    start_month TEXT NOT NULL CHECK (length(start_month) = 7),
    end_month TEXT NOT NULL CHECK (end_month >= start_month),
    cap_cents BIGINT CHECK (cap_cents IS NULL OR cap_cents > 0),
    reference TEXT NOT NULL,
    created_at TEXT NOT NULL,
    recorded_by_sub TEXT NOT NULL DEFAULT 'migration',
    recorded_by_role TEXT NOT NULL DEFAULT 'system',
    request_id TEXT,
    CHECK ((basis = 'fixed' AND monthly_amount_cents IS NOT NULL AND percent_ten_thousandths IS NULL)
        OR (basis = 'share' AND percent_ten_thousandths IS NOT NULL AND monthly_amount_cents IS NULL))
);
INSERT INTO commitments_rebuilt (id, employer_id, post_id, funder_id, basis, monthly_amount_cents, percent_ten_thousandths, start_month, end_month, cap_cents, reference, created_at, recorded_by_sub, recorded_by_role, request_id) SELECT id, employer_id, post_id, funder_id, basis, monthly_amount_cents, percent_ten_thousandths, start_month, end_month, cap_cents, reference, created_at, recorded_by_sub, recorded_by_role, request_id FROM commitments WHERE basis IN ('fixed', 'share');
DROP TABLE commitments;
ALTER TABLE commitments_rebuilt RENAME TO commitments;
CREATE INDEX commitments_post ON commitments (post_id, start_month);
CREATE INDEX commitments_funder ON commitments (funder_id, post_id);
DROP TABLE rate_values;
DROP TABLE rates;
COMMIT;
PRAGMA foreign_keys = ON;
