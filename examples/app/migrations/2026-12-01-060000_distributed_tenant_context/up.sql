-- tenancy: the sealed tenant context on Citus, and the functions that distribute a table.
--
-- On Citus, a tenant table's rows live in shards on worker nodes, and its policies run there,
-- in a worker session the coordinator opened. The worker session has no tenancy session
-- number, no nonce and no key, and `set_config()` never reaches it: only `SET LOCAL` is
-- replayed on the workers (with `citus.propagate_set_commands = 'local'`, which the entry
-- sets for its transaction). So on Citus the
-- context carries a fourth part, a MAC over the tenant, the principal and the *distributed
-- transaction id* (initiator node, number, timestamp) that the coordinator hands every worker
-- at the start of the transaction. A worker accepts the context only for the transaction it
-- was made for: a value observed in another transaction (pg_stat_activity, a log) is void.
-- docs/adr/0003-citus.md has the whole design and what it leaves out.
--
-- Without Citus nothing here runs: `tenancy.distribute` returns at once and the library calls
-- `tenancy.enter` as before.

CREATE FUNCTION tenancy.on_citus() RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  RETURN EXISTS (SELECT FROM pg_extension WHERE extname = 'citus');
COMMENT ON FUNCTION tenancy.on_citus() IS
  'tenancy: whether this database runs Citus (the citus extension is installed)';

-- Distributed transaction numbers of tenancy's own, far above the ones Citus counts from 1
-- (its counter restarts with the server): every tenant transaction gets an id no other
-- transaction ever had, and no other transaction can take it.
CREATE SEQUENCE tenancy.distributed_txn_seq
  MINVALUE 4611686018427387904 START 4611686018427387904;
REVOKE ALL ON SEQUENCE tenancy.distributed_txn_seq FROM PUBLIC;

-- The fourth part of a context on Citus, for the transaction running now: NULL when this
-- node has no distributed transaction id (or is not Citus), so that nothing matches it.
CREATE FUNCTION tenancy.node_context_mac(tenant text, principal text) RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  mac text;
BEGIN
  IF to_regprocedure('pg_catalog.get_current_transaction_id()') IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT encode(sha256(k.opad || sha256(k.ipad || convert_to(
           'node|' || t.initiator_node_identifier || '|' || t.transaction_number || '|'
           || (extract(epoch FROM t.transaction_stamp) * 1000000)::bigint || '|'
           || tenant || '|' || principal, 'UTF8'))), 'hex')
    INTO mac
    FROM pg_catalog.get_current_transaction_id() t
    JOIN tenancy.context_key k ON k.id = 1
   WHERE t.transaction_number <> 0;
  RETURN mac;
END
$$;
REVOKE ALL ON FUNCTION tenancy.node_context_mac(text, text) FROM PUBLIC;
COMMENT ON FUNCTION tenancy.node_context_mac(text, text) IS
  'tenancy: reviewed: the MAC binding a context to the distributed transaction running now';

-- The policies' reader, as before for a context of three parts (a single node); a context of
-- four parts (Citus) is accepted only with the MAC of this distributed transaction.
CREATE OR REPLACE FUNCTION tenancy.verified_context(part integer, plain_setting text) RETURNS uuid
  LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN CASE
    WHEN NULLIF(current_setting('tenancy.context', true), '') IS NULL THEN
      CASE WHEN tenancy.trusted_session()
        THEN NULLIF(current_setting(plain_setting, true), '')::uuid END
    WHEN split_part(current_setting('tenancy.context', true), '|', 4) = '' THEN
      CASE WHEN split_part(current_setting('tenancy.context', true), '|', 3) = encode(sha256(convert_to(
             currval('tenancy.nonce_hi') || '|' || currval('tenancy.nonce_lo') || '|'
             || split_part(current_setting('tenancy.context', true), '|', 1) || '|'
             || split_part(current_setting('tenancy.context', true), '|', 2), 'UTF8')), 'hex')
        THEN NULLIF(split_part(current_setting('tenancy.context', true), '|', part), '')::uuid
        ELSE tenancy.context_changed()
      END
    WHEN split_part(current_setting('tenancy.context', true), '|', 4) = tenancy.node_context_mac(
           split_part(current_setting('tenancy.context', true), '|', 1),
           split_part(current_setting('tenancy.context', true), '|', 2))
      THEN NULLIF(split_part(current_setting('tenancy.context', true), '|', part), '')::uuid
    ELSE tenancy.context_changed()
  END;
END
$$;

-- The context entry on Citus: a distributed transaction id of tenancy's own, then
-- `tenancy.enter` (MAC, counter, tenant status), then the context with its fourth part through
-- `SET LOCAL`, the one form Citus replays on the workers. The `SET LOCAL` runs here, as its
-- own statement, because Citus replays the whole client message a `SET LOCAL` came in, and
-- that message also holds BEGIN and this call. For the same reason a read-only transaction
-- is made read only here rather than by the client.
CREATE FUNCTION tenancy.enter_distributed(
  tenant uuid, principal uuid, counter bigint, mac text, check_status boolean DEFAULT false,
  read_only boolean DEFAULT false)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  -- First, before the status check reads `tenants` (a reference table: a distributed query,
  -- which would take an id of Citus's own). Fails ("already been assigned a transaction id")
  -- when a statement of this transaction reached a worker already: the context must be the
  -- first thing a transaction does.
  PERFORM pg_catalog.assign_distributed_transaction_id(
    (SELECT groupid FROM pg_dist_local_group), nextval('tenancy.distributed_txn_seq'), now());
  PERFORM tenancy.enter(tenant, principal, counter, mac, check_status);
  -- Whatever the server's setting: without it no SET LOCAL reaches the workers.
  PERFORM set_config('citus.propagate_set_commands', 'local', true);
  EXECUTE format('SET LOCAL tenancy.context = %L',
    current_setting('tenancy.context') || '|' || tenancy.node_context_mac(
      coalesce(tenant::text, ''), coalesce(principal::text, '')));
  IF read_only THEN
    SET TRANSACTION READ ONLY;
  END IF;
END
$$;
REVOKE ALL ON FUNCTION tenancy.enter_distributed(uuid, uuid, bigint, text, boolean, boolean)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.enter_distributed(uuid, uuid, bigint, text, boolean, boolean)
  TO tenancy_app;
COMMENT ON FUNCTION tenancy.enter_distributed(uuid, uuid, bigint, text, boolean, boolean) IS
  'tenancy: reviewed: tenancy.enter, then the context bound to this distributed transaction';

-- Runs `command` on every worker (as the current role, in a connection of its own), and
-- raises naming `purpose` and the worker when it fails on one.
CREATE FUNCTION tenancy.run_on_workers(command text, purpose text) RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM run_command_on_workers(command) LOOP
    IF NOT r.success THEN
      RAISE EXCEPTION 'tenancy: could not % on worker %:%: %', purpose, r.nodename, r.nodeport,
        r.result;
    END IF;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION tenancy.run_on_workers(text, text) FROM PUBLIC;

-- What each worker needs of its own for the context check: the key (workers have no copy of
-- the coordinator's local tables) and the nonce sequences the single-node branch of
-- `verified_context` names. Safe to run again: after adding a worker, after a new key.
CREATE FUNCTION tenancy.copy_key_to_workers() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  k record;
BEGIN
  IF NOT tenancy.on_citus() THEN
    RETURN;
  END IF;
  SELECT key, ipad, opad INTO k FROM tenancy.context_key WHERE id = 1;
  PERFORM tenancy.run_on_workers(format($cmd$
      SET citus.enable_ddl_propagation TO off;
      CREATE TABLE IF NOT EXISTS tenancy.context_key (
        id int PRIMARY KEY CHECK (id = 1),
        key bytea NOT NULL CHECK (length(key) = 32),
        ipad bytea NOT NULL,
        opad bytea NOT NULL);
      REVOKE ALL ON tenancy.context_key FROM PUBLIC;
      CREATE UNLOGGED SEQUENCE IF NOT EXISTS tenancy.nonce_hi MINVALUE -9223372036854775808 START 0;
      CREATE UNLOGGED SEQUENCE IF NOT EXISTS tenancy.nonce_lo MINVALUE -9223372036854775808 START 0;
      REVOKE ALL ON SEQUENCE tenancy.nonce_hi, tenancy.nonce_lo FROM PUBLIC;
      INSERT INTO tenancy.context_key VALUES (1, %L, %L, %L)
      ON CONFLICT (id) DO UPDATE SET key = excluded.key, ipad = excluded.ipad, opad = excluded.opad
      $cmd$, k.key, k.ipad, k.opad), 'copy the context key');
END
$$;
REVOKE ALL ON FUNCTION tenancy.copy_key_to_workers() FROM PUBLIC;
COMMENT ON FUNCTION tenancy.copy_key_to_workers() IS
  'tenancy: on Citus, gives every worker the context key; run again after adding a worker';

-- The roles of tenancy and every login that is a member of them, on every worker: Citus opens
-- worker connections as the same role, and creates a role on the workers itself only when it
-- was created with Citus installed. A deployment moving to Citus has them from before. Each
-- gets its attributes and password (the hash) as on the coordinator, then its memberships.
CREATE FUNCTION tenancy.copy_roles_to_workers() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
  cmd text;
BEGIN
  IF NOT tenancy.on_citus() THEN
    RETURN;
  END IF;
  FOR r IN
    WITH RECURSIVE members (oid, depth) AS (
      SELECT oid, 0 FROM pg_roles WHERE rolname IN ('tenancy_app', 'tenancy_admin')
      UNION
      SELECT m.member, members.depth + 1
        FROM pg_auth_members m JOIN members ON m.roleid = members.oid
    )
    SELECT a.rolname, a.rolcanlogin, a.rolinherit, a.rolbypassrls, a.rolpassword,
           (SELECT array_agg(g.rolname) FROM pg_auth_members m
              JOIN pg_roles g ON g.oid = m.roleid
             WHERE m.member = a.oid
               AND m.roleid IN (SELECT oid FROM members)) AS member_of
      FROM (SELECT oid, min(depth) AS depth FROM members GROUP BY oid) x
      JOIN pg_authid a ON a.oid = x.oid
     WHERE NOT a.rolsuper
     ORDER BY x.depth, a.rolname
  LOOP
    cmd := format(
      'SET citus.enable_ddl_propagation TO off;
       DO $r$ BEGIN
         IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = %L) THEN CREATE ROLE %I; END IF;
       END $r$;
       ALTER ROLE %I %s %s %s PASSWORD %s;',
      r.rolname, r.rolname, r.rolname,
      CASE WHEN r.rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END,
      CASE WHEN r.rolinherit THEN 'INHERIT' ELSE 'NOINHERIT' END,
      CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' ELSE 'NOBYPASSRLS' END,
      coalesce(quote_literal(r.rolpassword), 'NULL'));
    IF r.member_of IS NOT NULL THEN
      cmd := cmd || format(' GRANT %s TO %I;',
        (SELECT string_agg(quote_ident(g), ', ') FROM unnest(r.member_of) g), r.rolname);
    END IF;
    PERFORM tenancy.run_on_workers(cmd, format('create role %s', r.rolname));
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION tenancy.copy_roles_to_workers() FROM PUBLIC;

-- Whether a policy expression (as pg_get_expr prints it) has the tenant predicate as its
-- first top-level conjunct: PostgreSQL prints every boolean operand in parentheses, so a
-- prefix "((<column> = tenancy.current_tenant()) AND " can only open an AND at the top. NULL
-- (no USING or no WITH CHECK clause) has nothing to narrow.
CREATE FUNCTION tenancy.carries_tenant_predicate(expr text, tenant_column name) RETURNS boolean
  LANGUAGE sql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
  RETURN expr IS NULL
    OR expr = format('(%I = tenancy.current_tenant())', tenant_column)
    OR starts_with(expr, format('((%I = tenancy.current_tenant()) AND ', tenant_column));

-- Every policy of a distributed tenant table must carry the tenant predicate itself. Citus
-- copies policies to the shards without `AS RESTRICTIVE`, so there a restrictive policy ORs
-- with the others instead of narrowing them: `USING (deleted_at IS NULL)` would show every
-- tenant's live rows. This refuses such a policy when it is created or changed; the check of
-- an existing deployment is `tenancy check --citus`.
CREATE FUNCTION tenancy.policy_guard(rel regclass, policy_name name) RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  p record;
BEGIN
  FOR p IN
    SELECT pol.polname, pol.polpermissive,
           pg_get_expr(pol.polqual, pol.polrelid) AS qual,
           pg_get_expr(pol.polwithcheck, pol.polrelid) AS chk,
           column_to_column_name(d.logicalrelid, d.partkey) AS col
      FROM pg_policy pol
      JOIN pg_dist_partition d ON d.logicalrelid = pol.polrelid AND d.partmethod = 'h'
     WHERE pol.polrelid = rel AND (policy_name IS NULL OR pol.polname = policy_name)
  LOOP
    IF NOT (tenancy.carries_tenant_predicate(p.qual, p.col)
            AND tenancy.carries_tenant_predicate(p.chk, p.col)) THEN
      RAISE EXCEPTION 'tenancy: policy % on % does not begin with the tenant predicate', p.polname, rel
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'Citus copies policies to the shards without AS RESTRICTIVE, so on the '
                       'shards this policy would widen access across tenants.',
              HINT = format('write it as USING ((%1$I = tenancy.current_tenant()) AND (...)) '
                            'WITH CHECK ((%1$I = tenancy.current_tenant()) AND (...))', p.col);
    END IF;
    IF NOT p.polpermissive AND p.qual IS DISTINCT FROM format('(%I = tenancy.current_tenant())', p.col) THEN
      RAISE WARNING 'tenancy: restrictive policy % on % does not narrow the other policies on Citus', p.polname, rel
        USING DETAIL = 'Citus copies it to the shards as a permissive policy.',
              HINT = 'add its condition to the permissive policies (or to the queries) instead';
    END IF;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION tenancy.policy_guard(regclass, name) FROM PUBLIC;

CREATE FUNCTION tenancy.guard_distributed_policies() RETURNS event_trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c record;
BEGIN
  FOR c IN
    SELECT pol.polrelid::regclass AS rel, pol.polname
      FROM pg_event_trigger_ddl_commands() e
      JOIN pg_policy pol ON pol.oid = e.objid
     WHERE e.classid = 'pg_policy'::regclass
  LOOP
    PERFORM tenancy.policy_guard(c.rel, c.polname);
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION tenancy.guard_distributed_policies() FROM PUBLIC;

-- Citus only, once per coordinator (again after `CREATE EXTENSION citus` on a database that
-- ran these migrations before, and after adding a worker or a login): tenancy's functions,
-- roles and logins reach the workers, the workers get the key, no client may choose its
-- distributed transaction id (`assign_distributed_transaction_id` is what Citus itself sends
-- to the workers; a client calling it on the coordinator could take the id of a transaction
-- whose context it observed), and new policies on distributed tables are checked. Needs a
-- superuser, as installing Citus does.
CREATE FUNCTION tenancy.prepare_citus() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  propagate text;
  f record;
BEGIN
  IF NOT tenancy.on_citus() THEN
    RETURN;
  END IF;
  -- tenancy's functions on every node: Citus creates a function on the workers itself only
  -- when it was created with Citus installed, and then not one that reads a local table. On a
  -- database that had them before `CREATE EXTENSION citus`, the policies and triggers that run
  -- on the shards would not find them.
  FOR f IN
    SELECT p.oid::regprocedure AS fn FROM pg_proc p
     WHERE p.pronamespace = 'tenancy'::regnamespace
       AND NOT EXISTS (SELECT FROM pg_dist_object o
                        WHERE o.classid = 'pg_proc'::regclass AND o.objid = p.oid)
  LOOP
    BEGIN
      PERFORM create_distributed_function(f.fn);
    EXCEPTION WHEN OTHERS THEN
      -- One that reads a table the workers do not have yet (the key, the settings, a table
      -- distributed later) stays on the coordinator, which is where such a one runs.
      RAISE NOTICE 'tenancy: % stays on the coordinator: %', f.fn, SQLERRM;
    END;
  END LOOP;
  PERFORM tenancy.copy_roles_to_workers();
  PERFORM tenancy.copy_key_to_workers();
  -- A grant on one of Citus's own functions, for this node only.
  propagate := current_setting('citus.enable_ddl_propagation');
  PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
  REVOKE EXECUTE ON FUNCTION pg_catalog.assign_distributed_transaction_id(integer, bigint,
    timestamp with time zone) FROM PUBLIC;
  EXECUTE format('GRANT EXECUTE ON FUNCTION pg_catalog.assign_distributed_transaction_id('
    'integer, bigint, timestamp with time zone) TO %I', current_user);
  PERFORM set_config('citus.enable_ddl_propagation', propagate, true);
  DROP EVENT TRIGGER IF EXISTS tenancy_distributed_policies;
  CREATE EVENT TRIGGER tenancy_distributed_policies ON ddl_command_end
    WHEN TAG IN ('CREATE POLICY', 'ALTER POLICY')
    EXECUTE FUNCTION tenancy.guard_distributed_policies();
END
$$;
REVOKE ALL ON FUNCTION tenancy.prepare_citus() FROM PUBLIC;
COMMENT ON FUNCTION tenancy.prepare_citus() IS
  'tenancy: on Citus, prepares the coordinator and the workers for the tenant context';

-- A new key (`tenancy.install_context_key`) reaches the workers too.
CREATE FUNCTION tenancy.context_key_changed() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM tenancy.copy_key_to_workers();
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION tenancy.context_key_changed() FROM PUBLIC;
CREATE TRIGGER copy_to_workers AFTER INSERT OR UPDATE ON tenancy.context_key
  FOR EACH STATEMENT EXECUTE FUNCTION tenancy.context_key_changed();

-- Puts a table's policies in the form Citus accepts: the per-statement sub-select
-- `(SELECT tenancy.current_tenant())` (a sub-query, which Citus refuses in a policy) becomes
-- the plain call, which the shards evaluate once per index scan.
CREATE FUNCTION tenancy.citus_policy_form(rel regclass) RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  pol record;
  stmt text;
BEGIN
  FOR pol IN
    SELECT p.polname,
           replace(replace(pg_get_expr(p.polqual, p.polrelid),
             '( SELECT tenancy.current_tenant() AS current_tenant)', 'tenancy.current_tenant()'),
             '( SELECT tenancy.current_principal() AS current_principal)',
             'tenancy.current_principal()') AS qual,
           replace(replace(pg_get_expr(p.polwithcheck, p.polrelid),
             '( SELECT tenancy.current_tenant() AS current_tenant)', 'tenancy.current_tenant()'),
             '( SELECT tenancy.current_principal() AS current_principal)',
             'tenancy.current_principal()') AS chk,
           pg_get_expr(p.polqual, p.polrelid) AS old_qual,
           pg_get_expr(p.polwithcheck, p.polrelid) AS old_chk
      FROM pg_policy p WHERE p.polrelid = rel
  LOOP
    IF pol.qual IS NOT DISTINCT FROM pol.old_qual AND pol.chk IS NOT DISTINCT FROM pol.old_chk THEN
      CONTINUE;
    END IF;
    stmt := format('ALTER POLICY %I ON %s', pol.polname, rel);
    IF pol.qual IS NOT NULL THEN
      stmt := stmt || format(' USING (%s)', pol.qual);
    END IF;
    IF pol.chk IS NOT NULL THEN
      stmt := stmt || format(' WITH CHECK (%s)', pol.chk);
    END IF;
    EXECUTE stmt;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION tenancy.citus_policy_form(regclass) FROM PUBLIC;

-- Adds foreign keys to a table, one statement each, with the names in them resolved in the
-- table's own schema.
CREATE FUNCTION tenancy.add_foreign_keys(rel regclass, foreign_keys text[]) RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  fk text;
BEGIN
  IF cardinality(foreign_keys) = 0 THEN
    RETURN;
  END IF;
  -- Within this function only (its SET clause restores the path when it returns).
  PERFORM set_config('search_path', format('%I, pg_catalog, pg_temp',
    (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = rel)), true);
  FOREACH fk IN ARRAY foreign_keys LOOP
    EXECUTE format('ALTER TABLE %s ADD %s', rel, fk);
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION tenancy.add_foreign_keys(regclass, text[]) FROM PUBLIC;

-- Distributes a tenant table by its tenant column, co-located with every other tenant table,
-- so that one tenant's rows of all tables live on one node and joins and foreign keys between
-- them stay on it, then adds its foreign keys (`foreign_keys`: constraint definitions, names
-- resolved in the table's schema). Call it in the migration that creates the table, after the
-- table's policies; without Citus it only adds the foreign keys, so the same migration runs
-- on a single node. The foreign keys come last because on Citus a table that is not
-- distributed yet cannot point at one that is, and each is added as a statement of its own,
-- the form Citus needs for a change to a distributed table (it sends such a change to the
-- workers as the text it came in, which must be one statement).
--
-- Citus rejects a policy holding a sub-query, and copies policies to the shards without
-- `AS RESTRICTIVE`: the table's policies are rewritten from the per-statement form
-- `(SELECT tenancy.current_tenant())` to the plain call, and every policy must carry the
-- tenant predicate itself (`tenancy check --citus` reports one that does not).
CREATE FUNCTION tenancy.distribute(tenant_table regclass, tenant_column name DEFAULT 'tenant_id',
  foreign_keys text[] DEFAULT '{}')
  RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  unsafe_triggers text;
  modify_mode text;
BEGIN
  -- Two tests: without Citus, pg_dist_partition does not exist and a query naming it fails.
  IF tenancy.on_citus() THEN
    -- A foreign key to a reference table, added in the transaction that distributed the
    -- table, needs every command of it on one connection per node.
    modify_mode := current_setting('citus.multi_shard_modify_mode');
    IF cardinality(foreign_keys) > 0 THEN
      PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
    IF NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = tenant_table) THEN
      PERFORM tenancy.citus_policy_form(tenant_table);
      -- Row triggers of a tenant table touch only the row's own shard.
      unsafe_triggers := current_setting('citus.enable_unsafe_triggers');
      PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
      PERFORM create_distributed_table(tenant_table, tenant_column::text, colocate_with => 'default');
      PERFORM set_config('citus.enable_unsafe_triggers', unsafe_triggers, true);
    END IF;
    PERFORM tenancy.policy_guard(tenant_table, NULL);
    PERFORM tenancy.add_foreign_keys(tenant_table, foreign_keys);
    PERFORM set_config('citus.multi_shard_modify_mode', modify_mode, true);
  ELSE
    PERFORM tenancy.add_foreign_keys(tenant_table, foreign_keys);
  END IF;
END
$$;
REVOKE ALL ON FUNCTION tenancy.distribute(regclass, name, text[]) FROM PUBLIC;
COMMENT ON FUNCTION tenancy.distribute(regclass, name, text[]) IS
  'tenancy: on Citus, distributes a tenant table by its tenant column; then adds its foreign keys';

-- A table every tenant reads (plans, feature flags): on Citus a reference table, copied to
-- every node so that tenant tables can join it and point at it; then its foreign keys, as
-- `tenancy.distribute` adds them.
CREATE FUNCTION tenancy.replicate(global_table regclass, foreign_keys text[] DEFAULT '{}')
  RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  unsafe_triggers text;
BEGIN
  -- Two tests: without Citus, pg_dist_partition does not exist and a query naming it fails.
  IF tenancy.on_citus() THEN
    IF NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = global_table) THEN
      PERFORM tenancy.citus_policy_form(global_table);
      unsafe_triggers := current_setting('citus.enable_unsafe_triggers');
      PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
      PERFORM create_reference_table(global_table);
      PERFORM set_config('citus.enable_unsafe_triggers', unsafe_triggers, true);
    END IF;
  END IF;
  PERFORM tenancy.add_foreign_keys(global_table, foreign_keys);
END
$$;
REVOKE ALL ON FUNCTION tenancy.replicate(regclass, text[]) FROM PUBLIC;
COMMENT ON FUNCTION tenancy.replicate(regclass, text[]) IS
  'tenancy: on Citus, makes a global table a reference table; then adds its foreign keys';

-- Distributes tables that exist already (a deployment moving to Citus, or a schema whose
-- tables point at each other): Citus distributes a table only once every table it points at
-- is distributed or replicated, so the foreign keys between them are dropped first and made
-- again, unchanged, once all of them are. Without Citus it does nothing.
CREATE FUNCTION tenancy.distribute_tables(global_tables regclass[], tenant_tables regclass[])
  RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  fk record;
  saved text[] := '{}';
  stmt text;
  t regclass;
BEGIN
  IF NOT tenancy.on_citus() THEN
    RETURN;
  END IF;
  FOR fk IN
    SELECT c.conrelid::regclass AS rel, c.conname, pg_get_constraintdef(c.oid) AS def
      FROM pg_constraint c
     WHERE c.contype = 'f'
       AND (c.conrelid = ANY (global_tables || tenant_tables)
            OR c.confrelid = ANY (global_tables || tenant_tables))
  LOOP
    saved := saved || format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.rel, fk.conname, fk.def);
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.rel, fk.conname);
  END LOOP;
  FOREACH t IN ARRAY global_tables LOOP
    PERFORM tenancy.replicate(t);
  END LOOP;
  FOREACH t IN ARRAY tenant_tables LOOP
    PERFORM tenancy.distribute(t);
  END LOOP;
  FOREACH stmt IN ARRAY saved LOOP
    EXECUTE stmt;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION tenancy.distribute_tables(regclass[], regclass[]) FROM PUBLIC;
COMMENT ON FUNCTION tenancy.distribute_tables(regclass[], regclass[]) IS
  'tenancy: on Citus, replicates global tables and distributes tenant tables that exist already';

SELECT tenancy.prepare_citus();
