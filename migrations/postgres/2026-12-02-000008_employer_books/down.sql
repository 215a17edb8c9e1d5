ALTER TABLE employers DROP COLUMN version;
ALTER TABLE employers DROP COLUMN bic;
ALTER TABLE employers DROP COLUMN iban;
ALTER TABLE employers DROP COLUMN address;
ALTER TABLE employers DROP COLUMN fiscal_year_end_month;
