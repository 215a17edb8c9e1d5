DROP TABLE activity_hours;
DROP TABLE activity_records;
DELETE FROM commitments WHERE basis IN ('rate', 'activity');
ALTER TABLE commitments DROP CONSTRAINT commitments_check1;
ALTER TABLE commitments ADD CONSTRAINT commitments_check1
    CHECK ((basis = 'fixed' AND monthly_amount_cents IS NOT NULL AND percent_ten_thousandths IS NULL)
        OR (basis = 'share' AND percent_ten_thousandths IS NOT NULL AND monthly_amount_cents IS NULL));
ALTER TABLE commitments DROP CONSTRAINT commitments_basis_check;
ALTER TABLE commitments ADD CONSTRAINT commitments_basis_check CHECK (basis IN ('fixed', 'share'));
ALTER TABLE commitments DROP COLUMN fte_hundredths;
ALTER TABLE commitments DROP COLUMN rate_code;
DROP TABLE rate_values;
DROP TABLE rates;
