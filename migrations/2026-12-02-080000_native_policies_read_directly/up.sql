-- tenancy: where the native context is switched on, the policies call the extension's C
-- readers themselves instead of tenancy.current_tenant() and current_principal().
--
-- Those two are SQL functions whose body is a string (`SELECT tenancy_context.current_tenant()`),
-- so that `DROP EXTENSION tenancy_context CASCADE` cannot take them, and with them every policy.
-- PostgreSQL inlines a SQL function while it plans a statement, and inlining parses and
-- analyses the body again every time: twice for a table with the two tenant policies. A
-- statement PostgreSQL plans again on every execution (a prepared `ORDER BY .. LIMIT $n`, whose
-- generic plan cannot know the limit) paid about 10 µs for it, measured on the server
-- (the short-transactions benchmark's newest-20 query prepared in a PL/pgSQL loop, 15 rounds
-- of 2,000, medians of two runs): plain Diesel's statement 33-34 µs, the policies through the
-- SQL readers 78-82 µs, the same policies naming tenancy_context.current_tenant() 64-74 µs. The
-- form stays the same (the init plan `(SELECT ..)` where the table had it, the plain call
-- elsewhere), and so does what the reader answers: the C reader is the SQL reader's body.
--
-- The cost is a dependency: the policies now depend on the extension, so
-- `DROP EXTENSION tenancy_context` refuses while they name it, and with CASCADE drops them and
-- leaves every tenant table with row level security on and no policy, which PostgreSQL
-- reads as "no row for anyone". disable_native_context() writes the SQL readers back into the
-- policies first; it is the way out, as before. docs/adr/0004-native-tenant-context.md.

-- Replaces the call `old_call` by `new_call` in the expressions of every policy that names it
-- (a whole-word match on the text pg_get_expr prints with this search_path, where both
-- schemas are written out). Every policy, including those on the tables other tables'
-- policies read: the form of the expression does not change, only which function it calls.
-- A policy on a table the caller does not own is left as it is, with a warning.
CREATE FUNCTION tenancy.replace_policy_calls(old_call text, new_call text) RETURNS integer
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  pol record;
  pattern text := '(^|[^[:alnum:]_."])' || regexp_replace(old_call, '([.()])', '\\\1', 'g');
  qual text;
  chk text;
  stmt text;
  n integer := 0;
BEGIN
  FOR pol IN
    SELECT p.polname, p.polrelid::regclass AS rel,
           pg_get_expr(p.polqual, p.polrelid) AS qual,
           pg_get_expr(p.polwithcheck, p.polrelid) AS chk
    FROM pg_policy p
    JOIN pg_class c ON c.oid = p.polrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  LOOP
    qual := regexp_replace(pol.qual, pattern, '\1' || new_call, 'g');
    chk := regexp_replace(pol.chk, pattern, '\1' || new_call, 'g');
    IF qual IS NOT DISTINCT FROM pol.qual AND chk IS NOT DISTINCT FROM pol.chk THEN
      CONTINUE;
    END IF;
    stmt := format('ALTER POLICY %I ON %s', pol.polname, pol.rel);
    IF qual IS NOT NULL THEN
      stmt := stmt || format(' USING (%s)', qual);
    END IF;
    IF chk IS NOT NULL THEN
      stmt := stmt || format(' WITH CHECK (%s)', chk);
    END IF;
    BEGIN
      EXECUTE stmt;
      n := n + 1;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE WARNING 'tenancy: policy % on % still calls %', pol.polname, pol.rel, old_call
        USING HINT = 'run this again as the owner of ' || pol.rel;
    END;
  END LOOP;
  RETURN n;
END
$$;
REVOKE ALL ON FUNCTION tenancy.replace_policy_calls(text, text) FROM PUBLIC;
COMMENT ON FUNCTION tenancy.replace_policy_calls(text, text) IS
  'tenancy: makes every policy that calls old_call call new_call instead; returns how many it changed';

CREATE OR REPLACE FUNCTION tenancy.enable_native_context() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'tenancy_context') THEN
    RAISE EXCEPTION 'tenancy: the tenancy_context extension is not installed in this database'
      USING ERRCODE = 'undefined_object',
            HINT = 'build and install it from extension/ in tenancy''s repository, then, as a '
                   'superuser: CREATE EXTENSION tenancy_context';
  END IF;
  IF tenancy.on_citus() THEN
    RAISE EXCEPTION 'tenancy: the native tenant context does not reach Citus workers'
      USING ERRCODE = 'feature_not_supported',
            HINT = 'on Citus the context travels with the distributed transaction '
                   '(docs/adr/0003-citus.md); keep the SQL context';
  END IF;
  -- A body in a string, not `RETURN`: no dependency on the extension is recorded, so that
  -- `DROP EXTENSION tenancy_context CASCADE` cannot drop these readers. Without the extension
  -- they fail, and so does every statement that calls them.
  IF to_regprocedure('tenancy_context.current_tenant()') IS NOT NULL THEN
    -- Extension 1.2: one C call, which answers from the SQL context when the transaction
    -- entered no native one.
    EXECUTE $f$
      CREATE OR REPLACE FUNCTION tenancy.current_tenant() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL RESTRICTED
      AS 'SELECT tenancy_context.current_tenant()'
    $f$;
    EXECUTE $f$
      CREATE OR REPLACE FUNCTION tenancy.current_principal() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL RESTRICTED
      AS 'SELECT tenancy_context.current_principal()'
    $f$;
    -- The policies call the C readers themselves: planning a statement no longer parses the
    -- SQL readers' bodies. Run again after adding tables, it switches their policies too.
    PERFORM tenancy.replace_policy_calls('tenancy.current_tenant()', 'tenancy_context.current_tenant()'),
            tenancy.replace_policy_calls('tenancy.current_principal()', 'tenancy_context.current_principal()');
  ELSE
    RAISE NOTICE 'tenancy: tenancy_context is older than 1.2: the policies read it through a CASE of three calls'
      USING HINT = 'as a superuser: ALTER EXTENSION tenancy_context UPDATE; then, as the tables'' '
                   'owner: SELECT tenancy.enable_native_context()';
    EXECUTE $f$
      CREATE OR REPLACE FUNCTION tenancy.current_tenant() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL RESTRICTED
      AS 'SELECT CASE WHEN tenancy_context.entered() THEN tenancy_context.tenant()
                      ELSE tenancy.verified_context(1, ''tenancy.tenant_id'') END'
    $f$;
    EXECUTE $f$
      CREATE OR REPLACE FUNCTION tenancy.current_principal() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL RESTRICTED
      AS 'SELECT CASE WHEN tenancy_context.entered() THEN tenancy_context.principal()
                      ELSE tenancy.verified_context(2, ''tenancy.principal_id'') END'
    $f$;
  END IF;
  PERFORM tenancy.install_status_triggers();
END
$$;

CREATE OR REPLACE FUNCTION tenancy.disable_native_context() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t record;
BEGIN
  -- First the policies, which may name the extension's readers directly.
  IF to_regnamespace('tenancy_context') IS NOT NULL THEN
    PERFORM tenancy.replace_policy_calls('tenancy_context.current_tenant()', 'tenancy.current_tenant()'),
            tenancy.replace_policy_calls('tenancy_context.current_principal()', 'tenancy.current_principal()');
  END IF;
  FOR t IN SELECT tgname, tgrelid::regclass AS rel FROM pg_trigger
            WHERE tgname IN ('tenancy_status_changed', 'tenancy_status_truncated')
              AND tgfoid = to_regprocedure('tenancy_context.status_changed()')
  LOOP
    EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
  END LOOP;
  CREATE OR REPLACE FUNCTION tenancy.current_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    RETURN tenancy.verified_context(1, 'tenancy.tenant_id');
  CREATE OR REPLACE FUNCTION tenancy.current_principal() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    RETURN tenancy.verified_context(2, 'tenancy.principal_id');
END
$$;

-- A database already on the native context with extension 1.2 switches its policies here.
DO $$
BEGIN
  IF tenancy.native_context() AND to_regprocedure('tenancy_context.current_tenant()') IS NOT NULL THEN
    PERFORM tenancy.enable_native_context();
  END IF;
END
$$;
