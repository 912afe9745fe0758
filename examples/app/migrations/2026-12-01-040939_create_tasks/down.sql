-- Reverts `create_tasks`: its indexes, trigger, policies and grants go with it.
DROP TABLE tasks;
