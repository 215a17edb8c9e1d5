-- Closed periods, calls for funds with their gapless numbers, payments and their lettrage.

-- A closed month of an employer's books. Months are closed as a prefix and never reopened.
CREATE TABLE closed_periods (
    employer_id TEXT NOT NULL REFERENCES employers (id),
    month TEXT NOT NULL CHECK (length(month) = 7),
    closed_at TEXT NOT NULL,
    PRIMARY KEY (employer_id, month)
);

-- The last number given per employer, document kind (AF: call, AV: credit note) and year.
-- Incremented in the transaction that issues the document, so a rolled-back issue frees it.
CREATE TABLE number_sequences (
    employer_id TEXT NOT NULL REFERENCES employers (id),
    kind TEXT NOT NULL CHECK (kind IN ('AF', 'AV')),
    year INTEGER NOT NULL,
    last_number INTEGER NOT NULL CHECK (last_number > 0),
    PRIMARY KEY (employer_id, kind, year)
);

CREATE TABLE calls (
    id TEXT PRIMARY KEY NOT NULL,
    employer_id TEXT NOT NULL REFERENCES employers (id),
    funder_id TEXT NOT NULL REFERENCES funders (id),
    number TEXT NOT NULL,
    from_month TEXT NOT NULL,
    to_month TEXT NOT NULL CHECK (to_month >= from_month),
    issued_on TEXT NOT NULL,
    due_on TEXT NOT NULL CHECK (due_on >= issued_on),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    entry_id TEXT NOT NULL REFERENCES journal_entries (id),
    cancelled_on TEXT,
    credit_note_id TEXT,
    credit_note_number TEXT,
    credit_note_entry_id TEXT REFERENCES journal_entries (id),
    created_at TEXT NOT NULL,
    UNIQUE (employer_id, number)
);
CREATE INDEX calls_funder ON calls (funder_id, employer_id, due_on);

CREATE TABLE call_lines (
    call_id TEXT NOT NULL REFERENCES calls (id),
    post_id TEXT NOT NULL REFERENCES posts (id),
    month TEXT NOT NULL,
    funder_id TEXT NOT NULL REFERENCES funders (id),
    employer_id TEXT NOT NULL REFERENCES employers (id),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    PRIMARY KEY (call_id, post_id, month)
);
CREATE INDEX call_lines_funder_post ON call_lines (funder_id, post_id, month);

CREATE TABLE payments (
    id TEXT PRIMARY KEY NOT NULL,
    employer_id TEXT NOT NULL REFERENCES employers (id),
    funder_id TEXT NOT NULL REFERENCES funders (id),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    received_on TEXT NOT NULL,
    reference TEXT NOT NULL,
    entry_id TEXT NOT NULL REFERENCES journal_entries (id),
    created_at TEXT NOT NULL
);
CREATE INDEX payments_funder ON payments (funder_id, employer_id, received_on);

-- Money of a payment applied to a call (lettrage).
CREATE TABLE payment_applications (
    id TEXT PRIMARY KEY NOT NULL,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    call_id TEXT NOT NULL REFERENCES calls (id),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    created_at TEXT NOT NULL
);
CREATE INDEX payment_applications_call ON payment_applications (call_id);
CREATE INDEX payment_applications_payment ON payment_applications (payment_id);
