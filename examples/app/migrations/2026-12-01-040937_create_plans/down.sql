-- Reverts `create_plans`: its indexes, trigger and grants go with it.
DROP TABLE plans;
