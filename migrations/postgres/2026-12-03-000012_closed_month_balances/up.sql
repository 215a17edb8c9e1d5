-- The balances of each key at the end of each closed month, stored when the month is closed:
-- no line can be dated in a closed month afterwards, so they never change, and a balance as of
-- a day of a closed month is the month before's stored balances plus that month's lines.
CREATE TABLE closed_month_balances (
    employer_id TEXT NOT NULL REFERENCES employers (id),
    month TEXT NOT NULL,
    account TEXT NOT NULL,
    funder_key TEXT NOT NULL,
    post_key TEXT NOT NULL,
    debit_cents BIGINT NOT NULL,
    credit_cents BIGINT NOT NULL,
    PRIMARY KEY (employer_id, month, account, funder_key, post_key)
);
-- Months closed before this table existed have none: their balances are summed from the lines.
ALTER TABLE closed_periods ADD COLUMN balances_stored BOOLEAN NOT NULL DEFAULT FALSE;
-- Balances as of a day read one employer's lines of a month.
CREATE INDEX journal_lines_employer_date ON journal_lines (employer_id, entry_date);
