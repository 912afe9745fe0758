-- Citus: tenancy's distributed transaction numbers can no longer be worked out, and the
-- functions that still showed running transactions' numbers, the size of one tenant's shard,
-- or changed a worker's metadata are no longer the application's to call.
--
-- A worker keys the intermediate results of a multi-shard statement (files that no policy
-- covers) by the login and the transaction's number, and every tenant's transactions share
-- the login. The numbers came from a sequence, so one number a tenant learnt, its own
-- included, told it its neighbours'; and the wait-edge functions (`dump_local_wait_edges()`,
-- `dump_global_wait_edges()` and the blocked-process functions behind `citus_lock_waits`)
-- listed other sessions' numbers whenever a transaction waited on another, which a tenant can
-- make happen (`LOCK TABLE`). With a number, raw SQL of one tenant's transaction read another
-- tenant's intermediate results on the workers.
--
-- Now each number is the sequence's next value put through a permutation keyed by the
-- context key (a four-round Feistel network over 62 bits): still a number no other
-- transaction had, but one that says nothing about the one before or after, and that cannot
-- be guessed. The functions that list numbers are revoked from PUBLIC on every node, with
-- every function of Citus's `citus_internal` schema (and their `pg_catalog.citus_internal_*`
-- forms): Citus calls those from its own sessions only, and its check that a call comes from
-- one reads the session's `application_name`, which the worker sessions a tenant's statement
-- reaches carry; `citus_internal.delete_placement_metadata` checks nothing else. The
-- per-shard sizes (`citus_shard_sizes()`, the `citus_shards` view) go too: a shard can hold a
-- single tenant, and `get_shard_id_for_distribution_column` names the shard of any tenant id.

-- The number for the next distributed transaction. Not executable by the application: with
-- it, anyone could compute the numbers the sequence is about to hand out.
CREATE FUNCTION tenancy.next_distributed_txn_number() RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  n bigint := nextval('tenancy.distributed_txn_seq') - 4611686018427387904;
  key bytea;
  l bigint := n >> 31;
  r bigint := n & 2147483647;
  f bigint;
  t bigint;
BEGIN
  SELECT k.ipad INTO STRICT key FROM tenancy.context_key k WHERE k.id = 1;
  FOR round IN 1..4 LOOP
    f := ('x' || encode(substr(sha256(key || convert_to('distributed transaction number', 'UTF8')
           || int4send(round) || int8send(r)), 1, 4), 'hex'))::bit(32)::integer::bigint
         & 2147483647;
    t := r;
    r := l # f;
    l := t;
  END LOOP;
  RETURN 4611686018427387904 | (l << 31) | r;
END
$$;
REVOKE ALL ON FUNCTION tenancy.next_distributed_txn_number() FROM PUBLIC;
COMMENT ON FUNCTION tenancy.next_distributed_txn_number() IS
  'tenancy: reviewed: the next distributed transaction number, keyed so none can be worked out';

CREATE OR REPLACE FUNCTION tenancy.enter_distributed(
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
    (SELECT groupid FROM pg_dist_local_group), tenancy.next_distributed_txn_number(), now());
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

CREATE OR REPLACE FUNCTION tenancy.hide_worker_activity() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
  commands text := '';
  propagate text;
BEGIN
  IF NOT tenancy.on_citus() THEN
    RETURN;
  END IF;
  -- Every session of the database on the workers, whichever login: the coordinator opens
  -- them as the session's role, logins are added after the migrations, and a superuser who
  -- wants a session's text there sets it back in that session alone.
  PERFORM tenancy.run_on_workers(
    format('SET LOCAL citus.enable_ddl_propagation TO off; '
           'ALTER DATABASE %I SET track_activities = off', current_database()),
    'hide the statements the workers run');
  -- Citus's own objects: on each node by itself, without propagation. A node lists the
  -- functions it has, so the same list serves every node of one Citus version.
  propagate := current_setting('citus.enable_ddl_propagation');
  PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
  FOR r IN
    SELECT format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', p.oid::regprocedure) AS revoke,
           format('GRANT EXECUTE ON FUNCTION %s TO %I', p.oid::regprocedure, current_user) AS grant
      FROM pg_proc p
     WHERE (p.pronamespace = 'pg_catalog'::regnamespace
            AND (p.proname IN ('run_command_on_workers', 'run_command_on_shards',
                               'run_command_on_placements', 'run_command_on_colocated_placements',
                               'run_command_on_all_nodes', 'run_command_on_coordinator',
                               'master_run_on_worker', 'citus_stat_activity',
                               'citus_dist_stat_activity', 'citus_worker_stat_activity',
                               'get_global_active_transactions', 'get_all_active_transactions',
                               'get_current_transaction_id', 'dump_local_wait_edges',
                               'dump_global_wait_edges', 'citus_shard_sizes',
                               'citus_run_local_command')
                 OR p.proname LIKE 'citus\_internal\_%'))
        OR p.pronamespace = to_regnamespace('citus_internal')
    UNION ALL
    SELECT format('REVOKE SELECT ON %s FROM PUBLIC', c.oid::regclass),
           format('GRANT SELECT ON %s TO %I', c.oid::regclass, current_user)
      FROM pg_class c
     WHERE c.relnamespace = 'pg_catalog'::regnamespace
       AND c.relname IN ('citus_stat_activity', 'citus_dist_stat_activity',
                         'citus_worker_stat_activity', 'citus_lock_waits',
                         'pg_dist_transaction', 'citus_shards')
  LOOP
    EXECUTE r.revoke;
    EXECUTE r.grant;
    commands := commands || r.revoke || '; ' || r.grant || '; ';
  END LOOP;
  PERFORM set_config('citus.enable_ddl_propagation', propagate, true);
  IF commands <> '' THEN
    PERFORM tenancy.run_on_workers(
      'SET LOCAL citus.enable_ddl_propagation TO off; ' || commands,
      'keep Citus''s functions that reach other nodes from the application');
  END IF;
END
$$;

SELECT tenancy.hide_worker_activity();
