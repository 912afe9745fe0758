-- Back to the table grant `create_plans` made.
REVOKE SELECT ON plans FROM tenancy_app;
GRANT SELECT ON plans TO tenancy_app;
