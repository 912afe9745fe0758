-- tenancy: where the native context is switched on and its readers answer in parallel
-- workers (extension 1.4), the policies read the tenant (and the principal) with a plain call
-- of the extension's C reader, `tenant_id = tenancy_context.current_tenant()`, where they had
-- the init plan `(SELECT ..)`.
--
-- Every query a tenant transaction sends carries `tenant_id = $1` (the shadowing CTE), and
-- PostgreSQL puts it and the policies' equalities into one equivalence class. With the plain
-- call, the access and the isolation policy compare the column with the same expression, so
-- PostgreSQL keeps one, scans the index with $1 and compares the call with $1 once per
-- statement (a One-Time Filter): nothing is evaluated per row, and no sub-select is planned.
-- With the init plan, every statement that is planned (a prepared `ORDER BY .. LIMIT $n` is
-- planned on every execution) plans a sub-select, and every execution runs an init plan.
-- Measured on the server (a PL/pgSQL loop as the application's login, medians of 15 rounds):
-- the newest 20 rows 35.1 µs with the init plan, 30.4 µs with the plain call, plain SQL
-- without row level security 21.4 µs; the point lookup 6.2 / 5.5 / 4.1 µs.
--
-- Before 1.4 the readers were PARALLEL RESTRICTED, and a plain call among a table's quals kept
-- every scan of it out of parallel plans; so this form waits for them to be PARALLEL SAFE.
-- A query without that filter (raw SQL) still reads the tenant once per index scan, where the
-- call is the scan's key; in a sequential scan the call is a filter, evaluated per row. The C
-- reader is a check and a copy, so this form is only used with the native context: the SQL
-- context's reader is PL/pgSQL, and per row it would cost far more than the sub-select saves.
-- disable_native_context() therefore puts the init plan back into the policies this switched,
-- which it finds by the line this adds to their comment. docs/adr/0004-native-tenant-context.md.

-- Whether the native readers are there and PARALLEL SAFE (extension 1.4 and later).
CREATE FUNCTION tenancy.native_readers_parallel_safe() RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  RETURN coalesce((SELECT bool_and(p.proparallel = 's') AND count(*) = 2 FROM pg_proc p
                   WHERE p.oid IN (to_regprocedure('tenancy_context.current_tenant()'),
                                   to_regprocedure('tenancy_context.current_principal()'))), false);
REVOKE ALL ON FUNCTION tenancy.native_readers_parallel_safe() FROM PUBLIC;

-- plain = true: every `( SELECT tenancy_context.current_tenant() AS current_tenant)` (and
-- current_principal) of a policy becomes the plain call, and the policy's comment gets the
-- marker line. plain = false: the policies with the marker get the init plan back around each
-- call, and lose the marker. A policy on a table the caller does not own is left as it is,
-- with a warning. Returns how many policies it changed.
CREATE FUNCTION tenancy.switch_policy_reads(plain boolean) RETURNS integer
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  marker constant text := 'tenancy: reads the context with a plain call while the native context is on; '
                          'tenancy.disable_native_context() puts the init plan (SELECT ..) back';
  plain_call constant text := '(^|[^[:alnum:]_."])tenancy_context\.(current_tenant|current_principal)\(\)';
  pol record;
  qual text;
  chk text;
  note text;
  stmt text;
  n integer := 0;
BEGIN
  FOR pol IN
    SELECT p.polname, p.polrelid::regclass AS rel,
           pg_get_expr(p.polqual, p.polrelid) AS qual,
           pg_get_expr(p.polwithcheck, p.polrelid) AS chk,
           obj_description(p.oid, 'pg_policy') AS note
    FROM pg_policy p
    JOIN pg_class c ON c.oid = p.polrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  LOOP
    -- Both directions start from the plain calls, so that a policy is never wrapped twice.
    qual := replace(replace(pol.qual,
              '( SELECT tenancy_context.current_tenant() AS current_tenant)', 'tenancy_context.current_tenant()'),
              '( SELECT tenancy_context.current_principal() AS current_principal)', 'tenancy_context.current_principal()');
    chk := replace(replace(pol.chk,
              '( SELECT tenancy_context.current_tenant() AS current_tenant)', 'tenancy_context.current_tenant()'),
              '( SELECT tenancy_context.current_principal() AS current_principal)', 'tenancy_context.current_principal()');
    IF plain THEN
      CONTINUE WHEN qual IS NOT DISTINCT FROM pol.qual AND chk IS NOT DISTINCT FROM pol.chk;
      note := concat_ws(E'\n', pol.note, marker);
    ELSE
      CONTINUE WHEN pol.note IS NULL OR strpos(pol.note, marker) = 0;
      qual := regexp_replace(qual, plain_call, '\1( SELECT tenancy_context.\2() AS \2)', 'g');
      chk := regexp_replace(chk, plain_call, '\1( SELECT tenancy_context.\2() AS \2)', 'g');
      note := NULLIF(btrim(replace(pol.note, marker, ''), E'\n'), '');
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
      EXECUTE format('COMMENT ON POLICY %I ON %s IS %L', pol.polname, pol.rel, note);
      n := n + 1;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE WARNING 'tenancy: policy % on % keeps how it reads the context', pol.polname, pol.rel
        USING HINT = 'run this again as the owner of ' || pol.rel;
    END;
  END LOOP;
  RETURN n;
END
$$;
REVOKE ALL ON FUNCTION tenancy.switch_policy_reads(boolean) FROM PUBLIC;
COMMENT ON FUNCTION tenancy.switch_policy_reads(boolean) IS
  'tenancy: plain = true: the policies call the native readers instead of (SELECT ..); false: the init plan back where it was';

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
    -- Extension 1.4: the readers answer in parallel workers, so the policies call them
    -- directly where they had the init plan (SELECT ..).
    IF tenancy.native_readers_parallel_safe() THEN
      PERFORM tenancy.switch_policy_reads(true);
    END IF;
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
    PERFORM tenancy.switch_policy_reads(false);
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

-- A database already on the native context with extension 1.4 switches its policies here.
DO $$
BEGIN
  IF tenancy.native_context() AND tenancy.native_readers_parallel_safe() THEN
    PERFORM tenancy.switch_policy_reads(true);
  END IF;
END
$$;
