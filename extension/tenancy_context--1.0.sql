-- tenancy_context 1.0: the sealed tenant context in native code. Loaded by
-- `CREATE EXTENSION tenancy_context` (a superuser), switched on for tenancy's policies by
-- `SELECT tenancy.enable_native_context()` (the tables' owner).
\echo Use "CREATE EXTENSION tenancy_context" to load this file. \quit

-- Opens the context of the current transaction, as tenancy.enter does: the MAC is
-- HMAC-SHA256(key, 'native|<session>|<counter>|<tenant or ''>|<principal or ''>') in
-- lowercase hex, with the key of tenancy.context_key and the session number of
-- tenancy.open_session(); the counter must grow within the session; with check_status the
-- tenant must pass tenancy.tenant_refusal. Everyone may call it: without the key it refuses.
-- A procedure: `CALL` is neither planned nor answered with a row, which makes it the
-- cheapest statement to send with BEGIN.
CREATE PROCEDURE enter(tenant uuid, principal uuid, counter bigint, mac text,
                       check_status boolean DEFAULT false)
  AS 'MODULE_PATHNAME', 'tenancy_context_enter'
  LANGUAGE C;

-- Whether enter() opened a context in the current transaction, and its parts (NULL when
-- none). Parallel restricted: the context lives in this backend's memory, not in workers.
CREATE FUNCTION entered() RETURNS boolean
  AS 'MODULE_PATHNAME', 'tenancy_context_entered'
  LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION tenant() RETURNS uuid
  AS 'MODULE_PATHNAME', 'tenancy_context_tenant'
  LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION principal() RETURNS uuid
  AS 'MODULE_PATHNAME', 'tenancy_context_principal'
  LANGUAGE C STABLE PARALLEL RESTRICTED;

GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
