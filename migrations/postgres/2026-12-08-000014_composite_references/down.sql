DROP TRIGGER journal_lines_name_known_parties ON journal_lines;
DROP FUNCTION journal_lines_name_known_parties();
ALTER TABLE journal_lines
    ADD FOREIGN KEY (funder_id) REFERENCES funders (id),
    ADD FOREIGN KEY (post_id) REFERENCES posts (id);
ALTER TABLE allocation_lines
    DROP CONSTRAINT allocation_lines_commitment_fkey,
    ADD FOREIGN KEY (commitment_id) REFERENCES commitments (id),
    ADD FOREIGN KEY (post_id) REFERENCES posts (id),
    ADD FOREIGN KEY (funder_id) REFERENCES funders (id),
    ADD FOREIGN KEY (employer_id) REFERENCES employers (id);
ALTER TABLE commitments DROP CONSTRAINT commitments_line_key;
ALTER TABLE journal_lines
    DROP CONSTRAINT journal_lines_entry_fkey,
    ADD FOREIGN KEY (entry_id) REFERENCES journal_entries (id),
    ADD FOREIGN KEY (employer_id) REFERENCES employers (id);
ALTER TABLE journal_entries DROP CONSTRAINT journal_entries_line_key;
