-- Reverts `create_projects`: its indexes, trigger, policies and grants go with it.
DROP TABLE projects;
