-- The audit log is append-only in depth: no UPDATE/DELETE privilege or policy for
-- tenancy_app, and BEFORE UPDATE/DELETE/TRUNCATE triggers (ENABLE ALWAYS) that refuse even the
-- tables' owner and the BYPASSRLS admin role; appends are chained per tenant.
BEGIN;
SELECT plan(44);

CREATE FUNCTION pg_temp.id(name text) RETURNS uuid LANGUAGE sql IMMUTABLE
  RETURN CASE name
    WHEN 'tenant_a' THEN 'a0000000-0000-4000-8000-0000000000a1'
    WHEN 'tenant_b' THEN 'b0000000-0000-4000-8000-0000000000b1'
  END::uuid;

-- Seed, as the superuser: two entries for A, one for B.
INSERT INTO tenants (id, slug, name)
SELECT pg_temp.id('tenant_' || x), 'pgtap-audit-' || x, 'pgTAP audit ' || x FROM unnest(ARRAY['a', 'b']) x;
INSERT INTO audit_log (tenant_id, action, details, prev_hash, row_hash) VALUES
  (pg_temp.id('tenant_a'), 'pgtap.first', '{"n": 1}', '\x'::bytea, '\x'::bytea),
  (pg_temp.id('tenant_a'), 'pgtap.second', '{"n": 2}', '\x'::bytea, '\x'::bytea),
  (pg_temp.id('tenant_b'), 'pgtap.first', '{"n": 1}', '\x'::bytea, '\x'::bytea);
-- Tampering, the only way even the owner can: disable the trigger (ALTER TABLE), update, and
-- put the trigger back in exactly the state it was in.
CREATE FUNCTION pg_temp.tamper(tenant uuid, entry bigint, new_details jsonb) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  state "char";
BEGIN
  SELECT tgenabled INTO STRICT state FROM pg_trigger
  WHERE tgrelid = 'public.audit_log'::regclass AND tgname = 'audit_log_no_update_delete';
  ALTER TABLE public.audit_log DISABLE TRIGGER audit_log_no_update_delete;
  UPDATE public.audit_log SET details = new_details WHERE tenant_id = tenant AND seq = entry;
  EXECUTE format('ALTER TABLE public.audit_log %s TRIGGER audit_log_no_update_delete',
                 CASE state WHEN 'A' THEN 'ENABLE ALWAYS' WHEN 'R' THEN 'ENABLE REPLICA'
                            WHEN 'D' THEN 'DISABLE' ELSE 'ENABLE' END);
END
$$;
-- B's chain is tampered with, so that a verification that can see B's entries reports one.
DO $$ BEGIN PERFORM pg_temp.tamper(pg_temp.id('tenant_b'), 1, '{"n": 666}'); END $$;

-- 1-4: the triggers, and that they fire ALWAYS (also with session_replication_role = replica).
SELECT triggers_are('public', 'audit_log',
  ARRAY['audit_log_chain', 'audit_log_no_update_delete', 'audit_log_no_truncate']::name[],
  'audit_log has exactly the chain and the append-only triggers');
SELECT trigger_is('public', 'audit_log', 'audit_log_no_update_delete', 'tenancy', 'audit_log_append_only',
                  'audit_log_no_update_delete calls tenancy.audit_log_append_only()');
SELECT trigger_is('public', 'audit_log', 'audit_log_no_truncate', 'tenancy', 'audit_log_append_only',
                  'audit_log_no_truncate calls tenancy.audit_log_append_only()');
SELECT results_eq(
  $$SELECT tgname::text COLLATE "default", tgenabled::text COLLATE "default",
           (tgtype & 2) <> 0 AS before, (tgtype & 1) <> 0 AS per_row,
           (tgtype & 4) <> 0 AS ins, (tgtype & 8) <> 0 AS del, (tgtype & 16) <> 0 AS upd,
           (tgtype & 32) <> 0 AS trunc
    FROM pg_trigger WHERE tgrelid = 'public.audit_log'::regclass AND NOT tgisinternal ORDER BY tgname$$,
  $$VALUES ('audit_log_chain', 'A', true, true, true, false, false, false),
           ('audit_log_no_truncate', 'A', true, false, false, false, false, true),
           ('audit_log_no_update_delete', 'A', true, true, false, true, true, false)$$,
  'the audit triggers are BEFORE triggers for the right events and ENABLE ALWAYS');

-- 5-7: the seeded chain: seq 1, 2 for A; the trigger computed the hashes, and it verifies.
SELECT results_eq(
  format($$SELECT seq FROM public.audit_log WHERE tenant_id = %L ORDER BY seq$$, pg_temp.id('tenant_a')),
  ARRAY[1::bigint, 2], 'tenant A''s chain has seq 1, 2 (the trigger numbers the entries)');
SELECT is(
  (SELECT prev_hash FROM public.audit_log WHERE tenant_id = pg_temp.id('tenant_a') AND seq = 1),
  decode(repeat('00', 32), 'hex'), 'the first entry chains to 32 zero bytes');
SELECT is(tenancy.verify_audit_chain(pg_temp.id('tenant_a')), NULL, 'tenant A''s chain verifies');

-- 8-13: the owner (this superuser session) cannot change or remove entries.
SELECT throws_ok($$UPDATE public.audit_log SET action = 'pgtap.forged'$$, '42501',
                 'audit_log is append-only: UPDATE is not allowed', 'owner: UPDATE is refused');
SELECT throws_ok($$DELETE FROM public.audit_log$$, '42501',
                 'audit_log is append-only: DELETE is not allowed', 'owner: DELETE is refused');
SELECT throws_ok($$TRUNCATE public.audit_log$$, '42501',
                 'audit_log is append-only: TRUNCATE is not allowed', 'owner: TRUNCATE is refused');
SET LOCAL session_replication_role = replica;
SELECT throws_ok($$UPDATE public.audit_log SET action = 'pgtap.forged'$$, '42501',
                 'audit_log is append-only: UPDATE is not allowed',
                 'owner, session_replication_role = replica: UPDATE is still refused');
SELECT throws_ok($$DELETE FROM public.audit_log$$, '42501',
                 'audit_log is append-only: DELETE is not allowed',
                 'owner, session_replication_role = replica: DELETE is still refused');
SET LOCAL session_replication_role = origin;
-- The purge exception names one tenant; it does not open another tenant's entries.
SET LOCAL tenancy.purge_tenant = 'b0000000-0000-4000-8000-0000000000b1';
SELECT throws_ok(format($$DELETE FROM public.audit_log WHERE tenant_id = %L$$, pg_temp.id('tenant_a')),
                 '42501', 'audit_log is append-only: DELETE is not allowed',
                 'owner: purging tenant B does not allow deleting tenant A''s entries');
SET LOCAL tenancy.purge_tenant = '';

-- 14-17: tenancy_admin (BYPASSRLS) is refused as well; it holds no DELETE (a purge deletes
-- the tenant's row, and the foreign key's cascade runs as the table's owner).
SET LOCAL ROLE tenancy_admin;
SELECT throws_ok($$DELETE FROM public.audit_log$$, '42501',
                 'permission denied for table audit_log', 'tenancy_admin: DELETE is refused');
SELECT throws_ok($$UPDATE public.audit_log SET action = 'pgtap.forged'$$, '42501',
                 'permission denied for table audit_log', 'tenancy_admin: UPDATE is refused');
SELECT throws_ok($$TRUNCATE public.audit_log$$, '42501',
                 'permission denied for table audit_log', 'tenancy_admin: TRUNCATE is refused');
SELECT results_eq($$SELECT count(*)::int FROM public.audit_log WHERE action LIKE 'pgtap.%'$$, ARRAY[3],
                  'tenancy_admin: all entries are still there');
RESET ROLE;

-- 18-40: tenancy_app in tenant A's transaction.
SET LOCAL ROLE tenancy_app;
DO $$ BEGIN PERFORM set_config('tenancy.tenant_id', 'a0000000-0000-4000-8000-0000000000a1', true); END $$;

-- 18-22: no way to change or remove entries.
SELECT throws_ok($$UPDATE public.audit_log SET action = 'pgtap.forged'$$, '42501',
                 'permission denied for table audit_log', 'tenancy_app: UPDATE is refused');
SELECT throws_ok($$DELETE FROM public.audit_log$$, '42501',
                 'permission denied for table audit_log', 'tenancy_app: DELETE is refused');
SELECT throws_ok($$TRUNCATE public.audit_log$$, '42501',
                 'permission denied for table audit_log', 'tenancy_app: TRUNCATE is refused');
SELECT throws_ok(
  $$INSERT INTO public.audit_log (tenant_id, action, prev_hash, row_hash)
    VALUES ('a0000000-0000-4000-8000-0000000000a1', 'pgtap.upsert', '\x', '\x')
    ON CONFLICT (tenant_id, id) DO UPDATE SET action = 'pgtap.forged'$$,
  '42501', 'permission denied for table audit_log', 'tenancy_app: INSERT ... ON CONFLICT DO UPDATE is refused');
SELECT throws_ok($$SELECT * FROM public.audit_log FOR UPDATE$$, '42501',
                 'permission denied for table audit_log', 'tenancy_app: SELECT ... FOR UPDATE is refused');

-- 23-25: it sees its own tenant's entries only.
SELECT results_eq($$SELECT action FROM public.audit_log ORDER BY seq$$,
                  ARRAY['pgtap.first', 'pgtap.second'], 'tenancy_app: sees tenant A''s two entries');
SELECT is_empty(format($$SELECT * FROM public.audit_log WHERE tenant_id = %L$$, pg_temp.id('tenant_b')),
                'tenancy_app: tenant B''s entries are invisible');
SELECT is(tenancy.verify_audit_chain(pg_temp.id('tenant_b')), NULL,
          'tenancy_app: tenant B''s (tampered) chain looks empty, nothing is reported');

-- 26-27: appends into another tenant's chain are refused.
SELECT throws_ok(
  format($$INSERT INTO public.audit_log (tenant_id, action, prev_hash, row_hash)
           VALUES (%L, 'pgtap.intrude', '\x', '\x')$$, pg_temp.id('tenant_b')),
  '42501', 'new row violates row-level security policy for table "audit_log"',
  'tenancy_app: appending to tenant B''s chain is refused');
DO $$ BEGIN PERFORM set_config('tenancy.tenant_id', '', true); END $$;
SELECT throws_ok(
  format($$INSERT INTO public.audit_log (tenant_id, action, prev_hash, row_hash)
           VALUES (%L, 'pgtap.intrude', '\x', '\x')$$, pg_temp.id('tenant_a')),
  '42501', 'new row violates row-level security policy for table "audit_log"',
  'tenancy_app without a tenant: appending is refused');
DO $$ BEGIN PERFORM set_config('tenancy.tenant_id', 'a0000000-0000-4000-8000-0000000000a1', true); END $$;

-- 28-34: appending to its own chain works; forged chain fields are overwritten.
SELECT lives_ok(
  format($$INSERT INTO public.audit_log (tenant_id, seq, action, prev_hash, row_hash)
           VALUES (%L, 42, 'pgtap.third', '\xdeadbeef', '\xdeadbeef')$$, pg_temp.id('tenant_a')),
  'tenancy_app: appending to its own chain works');
SELECT results_eq(
  format($$SELECT seq FROM public.audit_log WHERE tenant_id = %L ORDER BY seq$$, pg_temp.id('tenant_a')),
  ARRAY[1::bigint, 2, 3], 'tenancy_app: the new entry got seq 3, not the forged 42');
SELECT is(
  (SELECT prev_hash FROM public.audit_log WHERE tenant_id = pg_temp.id('tenant_a') AND seq = 3),
  (SELECT row_hash FROM public.audit_log WHERE tenant_id = pg_temp.id('tenant_a') AND seq = 2),
  'tenancy_app: the new entry chains to the previous one, not to the forged hash');
SELECT is(
  (SELECT row_hash FROM public.audit_log WHERE tenant_id = pg_temp.id('tenant_a') AND seq = 3),
  (SELECT tenancy.audit_row_hash(a.prev_hash, a) FROM public.audit_log a WHERE a.tenant_id = pg_temp.id('tenant_a') AND a.seq = 3),
  'tenancy_app: the new entry''s row_hash is the hash of the entry');
SELECT is(tenancy.verify_audit_chain(pg_temp.id('tenant_a')), NULL,
          'tenancy_app: tenant A''s chain still verifies');
-- The hash computed from the row as jsonb (what the trigger does, also on a Citus shard) is
-- the one the first migrations computed from the row's fields, so older chains verify.
SELECT is_empty(
  format($$SELECT a.id FROM public.audit_log a WHERE a.tenant_id = %L
            AND a.row_hash <> sha256(a.prev_hash || convert_to(jsonb_build_array(
              a.tenant_id, a.id, a.seq,
              to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
              a.actor_principal_id, a.action, a.workspace_id, a.resource_id, a.details
            )::text, 'UTF8'))$$, pg_temp.id('tenant_a')),
  'the chain''s hashes are the ones of the original formula');
SELECT results_eq(
  $$SELECT count(*)::int FROM public.audit_log WHERE action = 'pgtap.forged'$$, ARRAY[0],
  'no entry was changed by any of the attempts above');

-- 35-37: tampering is detected.
RESET ROLE;
DO $$ BEGIN PERFORM pg_temp.tamper(pg_temp.id('tenant_a'), 2, '{"n": 99}'); END $$;
SELECT is(
  tenancy.verify_audit_chain(pg_temp.id('tenant_a')),
  (SELECT id FROM public.audit_log WHERE tenant_id = pg_temp.id('tenant_a') AND seq = 2),
  'a tampered entry is the first one verify_audit_chain reports');
SELECT throws_ok($$UPDATE public.audit_log SET details = '{}'$$, '42501',
                 'audit_log is append-only: UPDATE is not allowed',
                 'owner: the trigger, back in place, refuses UPDATE again');
SELECT is(tenancy.verify_audit_chain(pg_temp.id('tenant_b')),
          (SELECT id FROM public.audit_log WHERE tenant_id = pg_temp.id('tenant_b') AND seq = 1),
          'owner: tenant B''s tampered entry is reported');

-- 38-39: no UPDATE or DELETE policy exists, so even a future grant would match no row.
SELECT is_empty(
  $$SELECT polname FROM pg_policy WHERE polrelid = 'public.audit_log'::regclass AND polcmd IN ('w', 'd')$$,
  'audit_log has no UPDATE or DELETE policy');
SELECT is_empty(
  $$SELECT polname FROM pg_policy WHERE polrelid = 'public.audit_log'::regclass AND polcmd = '*'
      AND polpermissive$$,
  'audit_log has no PERMISSIVE FOR ALL policy (which would cover UPDATE and DELETE)');

-- 40-44: a purge of a tenant (the documented exception) deletes that tenant's entries only,
-- and only as the cascade of the tenant's own row: named in the setting, they still do not go
-- one by one (the newest of a chain, which would then still verify).
SET LOCAL tenancy.purge_tenant = 'b0000000-0000-4000-8000-0000000000b1';
SELECT throws_ok(format($$DELETE FROM public.audit_log WHERE tenant_id = %L AND seq = 1$$, pg_temp.id('tenant_b')),
                 '42501', 'audit_log is append-only: DELETE is not allowed',
                 'owner: the purged tenant''s entries do not go without its row');
SELECT lives_ok(format($$DELETE FROM public.tenants WHERE id = %L$$, pg_temp.id('tenant_b')),
                'owner: deleting the row of the tenant being purged takes its entries');
SELECT results_eq($$SELECT DISTINCT tenant_id FROM public.audit_log WHERE action LIKE 'pgtap.%'$$,
                  ARRAY[pg_temp.id('tenant_a')], 'the purge left tenant A''s entries alone');
-- The control plane's chain (the nil tenant `_default`) never goes: it holds the records of
-- purges and of admin work.
INSERT INTO audit_log (tenant_id, action, prev_hash, row_hash)
VALUES ('00000000-0000-0000-0000-000000000000', 'pgtap.control_plane', '\x', '\x');
SET LOCAL tenancy.purge_tenant = '00000000-0000-0000-0000-000000000000';
SELECT throws_ok($$DELETE FROM public.tenants WHERE id = '00000000-0000-0000-0000-000000000000'$$,
                 '42501', 'audit_log is append-only: DELETE is not allowed',
                 'owner: the control plane''s chain does not go with the _default tenant');
SELECT results_eq($$SELECT count(*)::int FROM public.audit_log WHERE action = 'pgtap.control_plane'$$,
                  ARRAY[1], 'the control plane''s entry is still there');

SELECT * FROM finish();
ROLLBACK;
