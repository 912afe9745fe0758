-- Back to the SQL context readers, then without the switch.
SELECT tenancy.disable_native_context();
DROP FUNCTION tenancy.disable_native_context();
DROP FUNCTION tenancy.enable_native_context();
DROP FUNCTION tenancy.native_context();
