DROP INDEX costs_import;
ALTER TABLE costs DROP COLUMN import_id;
DROP TABLE imports;
DROP INDEX posts_reference;
ALTER TABLE posts DROP COLUMN reference;
