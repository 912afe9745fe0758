-- tenancy_context 1.2: enter() also takes the whole entry as one text argument,
-- '<tenant>|<principal>|<counter>|<mac>|<t or f>', with the same checks as the five-argument
-- form. The server parses, coerces and evaluates one text literal for much less than five
-- typed arguments, and this statement is sent with every transaction's BEGIN. tenancy uses it
-- wherever it finds it; `ALTER EXTENSION tenancy_context UPDATE` (a superuser) brings it to a
-- database created with an older version.
\echo Use "ALTER EXTENSION tenancy_context UPDATE TO '1.2'" to load this file. \quit

CREATE PROCEDURE enter(entry text)
  AS 'MODULE_PATHNAME', 'tenancy_context_enter_packed'
  LANGUAGE C;

-- The policies' readers where the native context is switched on: the native context when the
-- transaction entered one, else the SQL context's verified reader (tenancy.verified_context),
-- with the caller's EXECUTE privilege on it checked. `tenancy.enable_native_context()` makes
-- tenancy.current_tenant() and current_principal() call these when they exist: one C call in
-- place of a CASE over three functions, which the executor initializes in every statement.
CREATE FUNCTION current_tenant() RETURNS uuid
  AS 'MODULE_PATHNAME', 'tenancy_context_current_tenant'
  LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION current_principal() RETURNS uuid
  AS 'MODULE_PATHNAME', 'tenancy_context_current_principal'
  LANGUAGE C STABLE PARALLEL RESTRICTED;
