-- What an employer's documents and books need: its fiscal year, its address and its bank,
-- changed by PATCH with a version for If-Match.
ALTER TABLE employers ADD COLUMN fiscal_year_end_month INTEGER NOT NULL DEFAULT 12
    CHECK (fiscal_year_end_month BETWEEN 1 AND 12);
ALTER TABLE employers ADD COLUMN address TEXT;
ALTER TABLE employers ADD COLUMN iban TEXT;
ALTER TABLE employers ADD COLUMN bic TEXT;
ALTER TABLE employers ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
