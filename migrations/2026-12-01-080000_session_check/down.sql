DROP FUNCTION tenancy.check_session();
