-- Exports read an employer's journal in the order it was recorded, a page at a time from the
-- last entry sent: this index makes each page a range read instead of a sort of every entry.
CREATE INDEX journal_entries_recorded ON journal_entries (employer_id, created_at, id);
