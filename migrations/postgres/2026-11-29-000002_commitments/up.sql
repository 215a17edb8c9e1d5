-- Funding commitments: what each funder signed for a post. A funder's view of the data is
-- derived from these rows, so they come with the registry.
CREATE TABLE commitments (
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
    CHECK ((basis = 'fixed' AND monthly_amount_cents IS NOT NULL AND percent_ten_thousandths IS NULL)
        OR (basis = 'share' AND percent_ten_thousandths IS NOT NULL AND monthly_amount_cents IS NULL))
);
CREATE INDEX commitments_post ON commitments (post_id, start_month);
CREATE INDEX commitments_funder ON commitments (funder_id, post_id);
