DROP INDEX journal_entries_recorded;
