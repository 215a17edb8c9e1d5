DROP TABLE write_gate;
DROP TABLE idempotency_keys;
DROP TABLE post_budgets;
DROP TABLE posts;
DROP TABLE funders;
DROP TABLE employers;
