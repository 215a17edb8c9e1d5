DROP TABLE account_balances;
DROP TABLE journal_lines;
DROP TABLE journal_entries;
DROP TABLE allocation_lines;
DROP TABLE allocated_months;
DROP TABLE costs;
DROP FUNCTION journal_append_only();
