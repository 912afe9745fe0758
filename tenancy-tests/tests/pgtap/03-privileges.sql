-- What `tenancy_app` (and `tenancy_admin`) may do: table, column, schema, database
-- and function privileges, the reviewed SECURITY DEFINER functions, and what tenancy_app is
-- refused when it tries anyway.
BEGIN;
SELECT plan(105);

-- 1-14: tenancy_app's table privileges, exactly (pgTAP checks every privilege kind, so
-- TRUNCATE, REFERENCES and TRIGGER must be absent too).
SELECT table_privs_are(s, t, 'tenancy_app', p,
                       format('tenancy_app has exactly %s on %s.%s', p, s, t))
FROM (VALUES
  -- A tenant makes team and service principals and renames principals, never choosing a
  -- principal's user (column grants, test 30).
  ('public', 'principals',       ARRAY['SELECT', 'DELETE']::name[]),
  -- The control plane adds members; a tenant changes a membership's role and status only
  -- (column grants, test 30).
  ('public', 'org_members',      ARRAY['SELECT', 'DELETE']::name[]),
  ('public', 'teams',            ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'team_members',     ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'workspaces',       ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'resources',        ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'resource_acl',     ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'api_keys',         ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'api_key_usage',    ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'audit_log',        ARRAY['SELECT', 'INSERT']::name[]),
  ('public', 'tenants',          ARRAY['SELECT']::name[]),
  ('public', 'role_permissions', ARRAY['SELECT']::name[]),
  ('public', 'users',            ARRAY[]::name[]),
  ('tenancy', 'settings',        ARRAY['SELECT']::name[])
) AS v(s, t, p);

-- 15-28: tenancy_admin's, exactly (BYPASSRLS, so grants are all that limit it).
SELECT table_privs_are(s, t, 'tenancy_admin', p,
                       format('tenancy_admin has exactly %s on %s.%s', p, s, t))
FROM (VALUES
  ('public', 'principals',       ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'org_members',      ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'teams',            ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'team_members',     ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'workspaces',       ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'resources',        ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'resource_acl',     ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'api_keys',         ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'api_key_usage',    ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'audit_log',        ARRAY['SELECT', 'INSERT']::name[]),
  ('public', 'tenants',          ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'role_permissions', ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('public', 'users',            ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']::name[]),
  ('tenancy', 'settings',        ARRAY['SELECT']::name[])
) AS v(s, t, p);

-- 29: catalog-wide: neither role may TRUNCATE, REFERENCE or TRIGGER anything, and neither
-- has a privilege on a relation not listed above (views, sequences, new tables).
SELECT is_empty(
  $$SELECT r.rolname, c.oid::regclass, p.priv
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN (VALUES ('tenancy_app'), ('tenancy_admin')) AS r(rolname)
    CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p(priv)
    WHERE n.nspname IN ('public', 'tenancy') AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      -- pgTAP's own views (granted to PUBLIC) belong to the pgtap extension.
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
      AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(r.rolname, c.oid, 'SELECT, USAGE, UPDATE')
               ELSE has_table_privilege(r.rolname, c.oid, p.priv) END
      AND (p.priv IN ('TRUNCATE', 'REFERENCES', 'TRIGGER')
           OR c.relkind <> 'r'
           OR c.relname NOT IN ('principals', 'org_members', 'teams', 'team_members', 'workspaces',
                                'resources', 'resource_acl', 'api_keys', 'api_key_usage',
                                'audit_log', 'tenants', 'role_permissions', 'users', 'settings'))
      -- The admin login reads the tenant context key when the application starts.
      AND NOT (r.rolname = 'tenancy_admin' AND c.oid = 'tenancy.context_key'::regclass
               AND p.priv = 'SELECT')$$,
  'no TRUNCATE/REFERENCES/TRIGGER and no privilege on any other relation for either role (tenancy_admin reads the context key)');

-- 30: the column-level grants are exactly UPDATE of a membership's role and status, and
-- INSERT of a principal without its user and UPDATE of its name, for tenancy_app: none sneaks
-- a privilege past the table-level ones (a membership's user, which
-- tenancy.member_directory() shows the email of, and a principal's user are the control
-- plane's to set).
SELECT is(
  (SELECT string_agg(format('%s.%s: %s %s', a.attrelid::regclass, a.attname,
                            acl.grantee::regrole, acl.privilege_type), ', '
                     ORDER BY a.attrelid::regclass::text, a.attname, acl.privilege_type)
   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   JOIN pg_namespace n ON n.oid = c.relnamespace
   CROSS JOIN aclexplode(a.attacl) AS acl
   WHERE n.nspname IN ('public', 'tenancy')
     AND acl.grantee IN ('tenancy_app'::regrole, 'tenancy_admin'::regrole, 0)),
  'org_members.role: tenancy_app UPDATE, org_members.status: tenancy_app UPDATE, '
  'principals.created_at: tenancy_app INSERT, principals.display_name: tenancy_app INSERT, '
  'principals.display_name: tenancy_app UPDATE, principals.id: tenancy_app INSERT, '
  'principals.kind: tenancy_app INSERT, principals.tenant_id: tenancy_app INSERT, '
  'principals.updated_at: tenancy_app INSERT, principals.updated_at: tenancy_app UPDATE',
  'the only column-level privileges: tenancy_app updates org_members.role and .status, and inserts and renames principals without their user');

-- 31: nor do default privileges hand future objects to them.
SELECT is_empty(
  $$SELECT d.defaclrole::regrole, d.defaclobjtype
    FROM pg_default_acl d CROSS JOIN aclexplode(d.defaclacl) AS acl
    WHERE acl.grantee IN ('tenancy_app'::regrole, 'tenancy_admin'::regrole)$$,
  'no default privileges for tenancy_app or tenancy_admin');

-- 32-35: schemas: USAGE only, never CREATE.
SELECT schema_privs_are(s, r, ARRAY['USAGE']::name[], format('%s has only USAGE on schema %s', r, s))
FROM (VALUES ('public', 'tenancy_app'), ('tenancy', 'tenancy_app'),
             ('public', 'tenancy_admin'), ('tenancy', 'tenancy_admin')) AS v(s, r);

-- 36: no CREATE on the database (no new schemas).
SELECT ok(
  NOT has_database_privilege('tenancy_app', current_database(), 'CREATE'),
  'tenancy_app cannot create schemas in the database');

-- 37: the functions of schema tenancy are the reviewed ones.
SELECT functions_are('tenancy', ARRAY[
  'current_tenant', 'current_principal', 'uuid_v7', 'touch_updated_at', 'rls_mode', 'set_rls_mode',
  'caller_principals', 'member_directory', 'audit_row_hash', 'audit_log_chain',
  'audit_log_append_only', 'verify_audit_chain', 'require_active_tenant', 'api_key_lookup',
  'context_changed', 'install_context_key', 'open_session', 'enter', 'trusted_session',
  'verified_context', 'rewrite_policies', 'tenant_refusal', 'on_citus', 'node_context_mac',
  'enter_distributed', 'next_distributed_txn_number', 'copy_key_to_workers',
  'carries_tenant_predicate', 'policy_guard',
  'guard_distributed_policies', 'prepare_citus', 'distribute', 'replicate', 'context_key_changed',
  'citus_policy_form', 'distribute_tables', 'audit_hash', 'distribute_foundation',
  'add_foreign_keys', 'copy_roles_to_workers', 'run_on_workers', 'native_context',
  'enable_native_context', 'disable_native_context', 'check_session', 'install_status_triggers',
  'replace_policy_calls', 'switch_policy_reads', 'native_readers_parallel_safe',
  'resource_sharing_guard', 'invitation_acceptance_guard', 'hide_worker_activity',
  'close_large_objects', 'close_statistics_counters'
]::name[], 'schema tenancy has exactly the reviewed functions');

-- 38-86: tenancy_app's EXECUTE privileges, function by function. It must not switch shadow
-- mode, read context tags, replace or copy the context key, ask whether a session is trusted
-- or distribute tables; everything else is meant to be callable (trigger functions cannot be
-- called directly).
SELECT function_privs_are('tenancy', f, args, 'tenancy_app', p,
                          format('tenancy_app has %s on tenancy.%s', coalesce(nullif(p::text, '{}'), 'no privilege'), f))
FROM (VALUES
  ('current_tenant',        ARRAY[]::name[],               ARRAY['EXECUTE']::name[]),
  ('current_principal',     ARRAY[]::name[],               ARRAY['EXECUTE']::name[]),
  ('uuid_v7',               ARRAY[]::name[],               ARRAY['EXECUTE']::name[]),
  ('touch_updated_at',      ARRAY[]::name[],               ARRAY['EXECUTE']::name[]),
  ('rls_mode',              ARRAY[]::name[],               ARRAY['EXECUTE']::name[]),
  ('set_rls_mode',          ARRAY['text']::name[],         ARRAY[]::name[]),
  ('caller_principals',     ARRAY[]::name[],               ARRAY['EXECUTE']::name[]),
  ('member_directory',      ARRAY[]::name[],               ARRAY['EXECUTE']::name[]),
  ('audit_row_hash',        ARRAY['bytea', 'audit_log']::name[], ARRAY['EXECUTE']::name[]),
  ('audit_log_chain',       ARRAY[]::name[],               ARRAY['EXECUTE']::name[]),
  ('audit_log_append_only', ARRAY[]::name[],               ARRAY['EXECUTE']::name[]),
  ('verify_audit_chain',    ARRAY['uuid']::name[],         ARRAY['EXECUTE']::name[]),
  ('require_active_tenant', ARRAY[]::name[],               ARRAY['EXECUTE']::name[]),
  ('api_key_lookup',        ARRAY['text', 'bytea']::name[], ARRAY['EXECUTE']::name[]),
  ('open_session',          ARRAY[]::name[],               ARRAY['EXECUTE']::name[]),
  ('enter',                 ARRAY['uuid', 'uuid', 'bigint', 'text', 'boolean']::name[], ARRAY['EXECUTE']::name[]),
  ('context_changed',       ARRAY[]::name[],               ARRAY[]::name[]),
  ('install_context_key',   ARRAY['bytea']::name[],        ARRAY[]::name[]),
  ('trusted_session',       ARRAY[]::name[],               ARRAY[]::name[]),
  ('verified_context',      ARRAY['integer', 'text']::name[], ARRAY['EXECUTE']::name[]),
  ('rewrite_policies',      ARRAY['text', 'text']::name[], ARRAY[]::name[]),
  ('tenant_refusal',        ARRAY['uuid']::name[],         ARRAY[]::name[]),
  ('on_citus',              ARRAY[]::name[],               ARRAY['EXECUTE']::name[]),
  ('node_context_mac',      ARRAY['text', 'text']::name[], ARRAY[]::name[]),
  ('enter_distributed',     ARRAY['uuid', 'uuid', 'bigint', 'text', 'boolean', 'boolean']::name[], ARRAY['EXECUTE']::name[]),
  ('next_distributed_txn_number', ARRAY[]::name[],         ARRAY[]::name[]),
  ('copy_key_to_workers',   ARRAY[]::name[],               ARRAY[]::name[]),
  ('carries_tenant_predicate', ARRAY['text', 'name']::name[], ARRAY['EXECUTE']::name[]),
  ('policy_guard',          ARRAY['regclass', 'name']::name[], ARRAY[]::name[]),
  ('guard_distributed_policies', ARRAY[]::name[],          ARRAY[]::name[]),
  ('prepare_citus',         ARRAY[]::name[],               ARRAY[]::name[]),
  ('distribute',            ARRAY['regclass', 'name', 'text[]']::name[], ARRAY[]::name[]),
  ('replicate',             ARRAY['regclass', 'text[]']::name[], ARRAY[]::name[]),
  ('context_key_changed',   ARRAY[]::name[],               ARRAY[]::name[]),
  ('citus_policy_form',     ARRAY['regclass']::name[],     ARRAY[]::name[]),
  ('distribute_tables',     ARRAY['regclass[]', 'regclass[]']::name[], ARRAY[]::name[]),
  ('audit_hash',            ARRAY['bytea', 'jsonb']::name[], ARRAY['EXECUTE']::name[]),
  ('distribute_foundation', ARRAY[]::name[],               ARRAY[]::name[]),
  ('add_foreign_keys',      ARRAY['regclass', 'text[]']::name[], ARRAY[]::name[]),
  ('copy_roles_to_workers', ARRAY[]::name[],               ARRAY[]::name[]),
  ('run_on_workers',        ARRAY['text', 'text']::name[], ARRAY[]::name[]),
  ('native_context',        ARRAY[]::name[],               ARRAY['EXECUTE']::name[]),
  ('enable_native_context', ARRAY[]::name[],               ARRAY[]::name[]),
  ('disable_native_context', ARRAY[]::name[],              ARRAY[]::name[]),
  ('check_session',         ARRAY[]::name[],               ARRAY['EXECUTE']::name[]),
  ('install_status_triggers', ARRAY[]::name[],             ARRAY[]::name[]),
  ('replace_policy_calls',  ARRAY['text', 'text']::name[], ARRAY[]::name[]),
  ('switch_policy_reads',   ARRAY['boolean']::name[],      ARRAY[]::name[]),
  ('native_readers_parallel_safe', ARRAY[]::name[],        ARRAY[]::name[])
) AS v(f, args, p);

-- 87: the SECURITY DEFINER functions of the whole database are exactly the reviewed ones:
-- the two lookups, and the sealed tenant context (open a session, enter a context, read it).
SELECT set_eq(
  $$SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')$$,
  ARRAY['tenancy.api_key_lookup(text,bytea)', 'tenancy.member_directory()',
        'tenancy.open_session()', 'tenancy.enter(uuid,uuid,bigint,text,boolean)',
        'tenancy.verified_context(integer,text)',
        'tenancy.enter_distributed(uuid,uuid,bigint,text,boolean,boolean)'],
  'the only SECURITY DEFINER functions are the two lookups and the sealed context functions');

-- 88-89
SELECT is_definer('tenancy', 'member_directory', ARRAY[]::name[],
                  'tenancy.member_directory() is SECURITY DEFINER');
SELECT is_definer('tenancy', 'api_key_lookup', ARRAY['text', 'bytea']::name[],
                  'tenancy.api_key_lookup(text, bytea) is SECURITY DEFINER');

-- 90: each pins its search_path, so a caller cannot shadow the tables it reads.
SELECT is_empty(
  $$SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)$$,
  'every SECURITY DEFINER function runs with search_path = pg_catalog, pg_temp');

-- 91: each carries the review comment saying why it is safe.
SELECT is_empty(
  $$SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND coalesce(obj_description(p.oid, 'pg_proc'), '') !~ '^tenancy: reviewed: '$$,
  'every SECURITY DEFINER function has a "tenancy: reviewed:" comment');

-- 92: PUBLIC may execute none of them (only tenancy_app and tenancy_admin).
SELECT is_empty(
  $$SELECT p.oid::regprocedure, acl.grantee::regrole
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    CROSS JOIN aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS acl
    WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND acl.privilege_type = 'EXECUTE'
      AND acl.grantee NOT IN (p.proowner, 'tenancy_app'::regrole, 'tenancy_admin'::regrole)$$,
  'SECURITY DEFINER functions are executable only by their owner, tenancy_app and tenancy_admin');

-- 93: they run as the tables' owner, never as one of the tenancy roles.
SELECT is_empty(
  $$SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND p.proowner <> (SELECT relowner FROM pg_class WHERE oid = 'public.tenants'::regclass)$$,
  'SECURITY DEFINER functions are owned by the tables'' owner');

-- 94-95: the context functions stay STABLE (read once per statement or per index scan).
SELECT volatility_is('tenancy', 'current_tenant', ARRAY[]::name[], 'stable',
                     'tenancy.current_tenant() is STABLE');
SELECT volatility_is('tenancy', 'current_principal', ARRAY[]::name[], 'stable',
                     'tenancy.current_principal() is STABLE');

-- 96-105: behaviour: tenancy_app is refused what it has no privilege for.
SET LOCAL ROLE tenancy_app;
DO $$ BEGIN PERFORM set_config('tenancy.tenant_id', '00000000-0000-0000-0000-000000000000', true); END $$;
SELECT throws_ok($$SELECT * FROM public.users$$, '42501', 'permission denied for table users',
                 'tenancy_app cannot read users');
SELECT throws_ok($$TRUNCATE public.principals$$, '42501', 'permission denied for table principals',
                 'tenancy_app cannot TRUNCATE a tenant table');
SELECT throws_ok($$UPDATE public.tenants SET name = 'renamed'$$, '42501',
                 'permission denied for table tenants', 'tenancy_app cannot update tenants');
SELECT throws_ok($$UPDATE tenancy.settings SET value = 'shadow'$$, '42501',
                 'permission denied for table settings', 'tenancy_app cannot change tenancy.settings');
SELECT throws_ok($$SELECT tenancy.set_rls_mode('shadow')$$, '42501',
                 'permission denied for function set_rls_mode',
                 'tenancy_app cannot switch to shadow mode');
SELECT throws_ok($$ALTER TABLE public.principals DISABLE ROW LEVEL SECURITY$$, '42501',
                 'must be owner of table principals', 'tenancy_app cannot disable row level security');
SELECT throws_ok($$DROP POLICY tenant_isolation ON public.principals$$, '42501',
                 'must be owner of relation principals', 'tenancy_app cannot drop a policy');
SELECT throws_ok($$CREATE TABLE public.pgtap_intruder (id int)$$, '42501',
                 'permission denied for schema public', 'tenancy_app cannot create tables in public');
SELECT throws_ok($$CREATE FUNCTION tenancy.pgtap_intruder() RETURNS int LANGUAGE sql RETURN 1$$,
                 '42501', 'permission denied for schema tenancy',
                 'tenancy_app cannot create functions in schema tenancy');
SELECT throws_ok($$INSERT INTO public.role_permissions VALUES ('customer', 'tenant.delete')$$, '42501',
                 'permission denied for table role_permissions',
                 'tenancy_app cannot grant itself permissions');

SELECT * FROM finish();
ROLLBACK;
