-- `plans` read column by column: a table grant covers the system columns too, and the
-- foreign key `projects.plan_id -> plans` leaves each writer's transaction id in the plan
-- row's `xmax` (its check locks the row FOR KEY SHARE), which every tenant would read:
-- which plan another tenant's new project is on, and when (`tenancy check` TEN111).
-- Column grants leave the system columns out. A column added later needs its own grant.
REVOKE SELECT ON plans FROM tenancy_app;
GRANT SELECT (id, name, monthly_cents, created_at, updated_at) ON plans TO tenancy_app;
