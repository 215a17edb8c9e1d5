DROP INDEX journal_lines_employer_date;
ALTER TABLE closed_periods DROP COLUMN balances_stored;
DROP TABLE closed_month_balances;
