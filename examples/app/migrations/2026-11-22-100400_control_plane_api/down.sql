DROP TABLE api_key_usage;
DROP FUNCTION tenancy.api_key_lookup(text);
DROP FUNCTION tenancy.require_active_tenant();
