-- Costs, the current allocation of each post and month, and the double-entry journal.

-- A cost of a post for a month. A reversal is a row of its own with the opposite amount that
-- names the cost it reverses; a cost is reversed at most once and never edited.
CREATE TABLE costs (
    id TEXT PRIMARY KEY NOT NULL,
    employer_id TEXT NOT NULL REFERENCES employers (id),
    post_id TEXT NOT NULL REFERENCES posts (id),
    month TEXT NOT NULL CHECK (length(month) = 7),
    category TEXT NOT NULL CHECK (category IN ('salary', 'employer_charges', 'training',
        'supervision', 'equipment', 'overhead', 'other')),
    amount_cents BIGINT NOT NULL,
    reference TEXT,
    reverses_cost_id TEXT REFERENCES costs (id),
    reason TEXT,
    entry_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CHECK ((reverses_cost_id IS NULL AND amount_cents > 0)
        OR (reverses_cost_id IS NOT NULL AND amount_cents < 0))
);
CREATE INDEX costs_post_month ON costs (post_id, month);
-- A cost is reversed at most once. Partial, so that ordinary costs write nothing here.
CREATE UNIQUE INDEX costs_reversal ON costs (reverses_cost_id) WHERE reverses_cost_id IS NOT NULL;

-- The months of a post that an allocation run has allocated, with what was split.
CREATE TABLE allocated_months (
    post_id TEXT NOT NULL REFERENCES posts (id),
    month TEXT NOT NULL CHECK (length(month) = 7),
    employer_id TEXT NOT NULL REFERENCES employers (id),
    cost_cents BIGINT NOT NULL,
    uncovered_cents BIGINT NOT NULL CHECK (uncovered_cents >= 0),
    PRIMARY KEY (post_id, month)
);

-- What each commitment is allocated for each allocated month, as of the last run. The
-- journal holds every change to these amounts; this table is their current sum.
CREATE TABLE allocation_lines (
    commitment_id TEXT NOT NULL REFERENCES commitments (id),
    month TEXT NOT NULL CHECK (length(month) = 7),
    post_id TEXT NOT NULL REFERENCES posts (id),
    funder_id TEXT NOT NULL REFERENCES funders (id),
    employer_id TEXT NOT NULL REFERENCES employers (id),
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    PRIMARY KEY (commitment_id, month)
);
CREATE INDEX allocation_lines_post ON allocation_lines (post_id, month);
CREATE INDEX allocation_lines_funder ON allocation_lines (funder_id, month);

-- The journal: entries of balanced lines, never updated nor deleted.
CREATE TABLE journal_entries (
    id TEXT PRIMARY KEY NOT NULL,
    employer_id TEXT NOT NULL REFERENCES employers (id),
    entry_date TEXT NOT NULL CHECK (length(entry_date) = 10),
    kind TEXT NOT NULL CHECK (kind IN ('cost', 'cost_reversal', 'allocation', 'call',
        'credit_note', 'payment')),
    reference TEXT NOT NULL,
    reverses_entry_id TEXT REFERENCES journal_entries (id),
    created_at TEXT NOT NULL
);
CREATE INDEX journal_entries_employer ON journal_entries (employer_id, entry_date, id);

CREATE TABLE journal_lines (
    entry_id TEXT NOT NULL REFERENCES journal_entries (id),
    line_no INTEGER NOT NULL,
    employer_id TEXT NOT NULL REFERENCES employers (id),
    entry_date TEXT NOT NULL,
    account TEXT NOT NULL,
    debit_cents BIGINT NOT NULL CHECK (debit_cents >= 0),
    credit_cents BIGINT NOT NULL CHECK (credit_cents >= 0),
    funder_id TEXT REFERENCES funders (id),
    post_id TEXT REFERENCES posts (id),
    month TEXT,
    PRIMARY KEY (entry_id, line_no),
    CHECK ((debit_cents = 0) <> (credit_cents = 0))
);
CREATE INDEX journal_lines_account ON journal_lines (employer_id, account, entry_date);
CREATE INDEX journal_lines_funder ON journal_lines (funder_id, account) WHERE funder_id IS NOT NULL;
CREATE INDEX journal_lines_post ON journal_lines (post_id, account) WHERE post_id IS NOT NULL;

-- Running totals per employer, account, funder and post, kept in the same transaction as the
-- lines. The empty string stands for "no funder" / "no post", since NULLs are distinct in a
-- unique key.
CREATE TABLE account_balances (
    employer_id TEXT NOT NULL REFERENCES employers (id),
    account TEXT NOT NULL,
    funder_key TEXT NOT NULL,
    post_key TEXT NOT NULL,
    debit_cents BIGINT NOT NULL,
    credit_cents BIGINT NOT NULL,
    PRIMARY KEY (employer_id, account, funder_key, post_key)
);

CREATE FUNCTION journal_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_append_only();
CREATE TRIGGER journal_lines_append_only BEFORE UPDATE OR DELETE ON journal_lines
    FOR EACH ROW EXECUTE FUNCTION journal_append_only();
