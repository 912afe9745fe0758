DROP FUNCTION tenancy.verify_audit_chain(uuid);
DROP FUNCTION tenancy.audit_row_hash(bytea, audit_log);
DROP TABLE audit_log;
DROP FUNCTION tenancy.audit_log_append_only();
DROP FUNCTION tenancy.audit_log_chain();
