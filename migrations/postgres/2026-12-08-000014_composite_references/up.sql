-- Fewer references to check per inserted journal or allocation line, and none weaker (on
-- PostgreSQL only: SQLite's migration of the same name does nothing, see there).
--
-- PostgreSQL checks each foreign key of each inserted row on its own (an executor started per
-- check, some 5 µs), and an employer-wide allocation run of 3,000 posts inserts some 24,000
-- journal lines and 12,000 allocation lines: with four references each, a third of the run
-- went to those checks. SQLite keeps its single-column references: there a check is an index
-- probe inside the same call, and the run is within its target (README, Benchmarks).

-- A journal line's employer and date are its entry's, and an allocation line's post, funder
-- and employer are its commitment's: one composite reference each says so — more than the
-- references per column did, which let a line name another employer than its entry's.
ALTER TABLE journal_entries
    ADD CONSTRAINT journal_entries_line_key UNIQUE (id, employer_id, entry_date);
ALTER TABLE journal_lines
    DROP CONSTRAINT journal_lines_entry_id_fkey,
    DROP CONSTRAINT journal_lines_employer_id_fkey,
    ADD CONSTRAINT journal_lines_entry_fkey FOREIGN KEY (entry_id, employer_id, entry_date)
        REFERENCES journal_entries (id, employer_id, entry_date);

ALTER TABLE commitments
    ADD CONSTRAINT commitments_line_key UNIQUE (id, post_id, funder_id, employer_id);
ALTER TABLE allocation_lines
    DROP CONSTRAINT allocation_lines_commitment_id_fkey,
    DROP CONSTRAINT allocation_lines_post_id_fkey,
    DROP CONSTRAINT allocation_lines_funder_id_fkey,
    DROP CONSTRAINT allocation_lines_employer_id_fkey,
    ADD CONSTRAINT allocation_lines_commitment_fkey
        FOREIGN KEY (commitment_id, post_id, funder_id, employer_id)
        REFERENCES commitments (id, post_id, funder_id, employer_id);

-- The funder and the post a journal line names are checked once per statement, over all the
-- lines it inserted (one join each), instead of once per line. What the references did besides,
-- keeping the named rows from being deleted or re-keyed, holds without them: posts and funders
-- are never deleted nor their ids changed, and a post or funder named by a journal line is
-- named by a cost or a commitment too, whose references still hold it.
ALTER TABLE journal_lines
    DROP CONSTRAINT journal_lines_funder_id_fkey,
    DROP CONSTRAINT journal_lines_post_id_fkey;
CREATE FUNCTION journal_lines_name_known_parties() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM added_lines l LEFT JOIN funders f ON f.id = l.funder_id
               WHERE l.funder_id IS NOT NULL AND f.id IS NULL) THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'a journal line names a funder that does not exist';
    END IF;
    IF EXISTS (SELECT 1 FROM added_lines l LEFT JOIN posts p ON p.id = l.post_id
               WHERE l.post_id IS NOT NULL AND p.id IS NULL) THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'a journal line names a post that does not exist';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER journal_lines_name_known_parties AFTER INSERT ON journal_lines
    REFERENCING NEW TABLE AS added_lines
    FOR EACH STATEMENT EXECUTE FUNCTION journal_lines_name_known_parties();
