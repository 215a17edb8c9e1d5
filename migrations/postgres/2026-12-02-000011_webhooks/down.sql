DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DELETE FROM event_funders WHERE seq IN (SELECT seq FROM events WHERE employer_id IS NULL);
DELETE FROM events WHERE employer_id IS NULL;
ALTER TABLE events ALTER COLUMN employer_id SET NOT NULL;
