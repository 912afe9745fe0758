-- Back to the guard that wants the plain column, first, and a space after its AND.
CREATE OR REPLACE FUNCTION tenancy.carries_tenant_predicate(expr text, tenant_column name) RETURNS boolean
  LANGUAGE sql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
  RETURN expr IS NULL
    OR expr = format('(%I = tenancy.current_tenant())', tenant_column)
    OR starts_with(expr, format('((%I = tenancy.current_tenant()) AND ', tenant_column));
