-- The distributed policy guard reads a tenant predicate as PostgreSQL prints it.
--
-- pg_get_expr breaks the line after an AND before some operands (a CASE), so the AND that
-- follows the tenant predicate may be followed by a newline rather than a space; and it
-- prints a tenant column whose type is a domain over uuid as "(<column>)::uuid". The guard
-- refused both, although each holds the rows to the tenant as the plain form does. Written
-- the other way round ("tenancy.current_tenant() = <column>") it means the same too: "=" on
-- uuid is its own commutator. `tenancy check` reads policies by the same rule.
CREATE OR REPLACE FUNCTION tenancy.carries_tenant_predicate(expr text, tenant_column name) RETURNS boolean
  LANGUAGE sql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
  RETURN expr IS NULL
    OR EXISTS (
      SELECT FROM unnest(ARRAY[format('%I', tenant_column), format('(%I)::uuid', tenant_column)]) AS c(name),
                  unnest(ARRAY[format('(%s = tenancy.current_tenant())', c.name),
                               format('(tenancy.current_tenant() = %s)', c.name)]) AS p(predicate)
       WHERE expr = p.predicate
          OR (starts_with(expr, '(' || p.predicate || ' AND')
              AND substr(expr, length(p.predicate) + 6, 1) IN (' ', E'\n', E'\t', E'\r')));
