-- The two roles the migrations define. `tenancy_app` is NOLOGIN, not superuser, no
-- BYPASSRLS, cannot create roles or databases, is a member of no role and owns nothing;
-- `tenancy_admin` is NOLOGIN with BYPASSRLS and nothing else.
BEGIN;
SELECT plan(27);

-- 1-2
SELECT has_role('tenancy_app', 'role tenancy_app exists');
SELECT has_role('tenancy_admin', 'role tenancy_admin exists');

-- 3-10: tenancy_app's attributes.
SELECT isnt_superuser('tenancy_app', 'tenancy_app is not a superuser');
SELECT is((SELECT rolbypassrls FROM pg_roles WHERE rolname = 'tenancy_app'), false,
          'tenancy_app has NOBYPASSRLS');
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'tenancy_app'), false,
          'tenancy_app is NOLOGIN (applications log in as their own role and SET ROLE)');
SELECT is((SELECT rolcreaterole FROM pg_roles WHERE rolname = 'tenancy_app'), false,
          'tenancy_app has NOCREATEROLE');
SELECT is((SELECT rolcreatedb FROM pg_roles WHERE rolname = 'tenancy_app'), false,
          'tenancy_app has NOCREATEDB');
SELECT is((SELECT rolreplication FROM pg_roles WHERE rolname = 'tenancy_app'), false,
          'tenancy_app has NOREPLICATION');
SELECT is((SELECT rolinherit FROM pg_roles WHERE rolname = 'tenancy_app'), false,
          'tenancy_app is NOINHERIT');
SELECT is_empty(
  $$SELECT setdatabase, setconfig FROM pg_db_role_setting
    WHERE setrole IN (0, 'tenancy_app'::regrole)
      AND EXISTS (SELECT FROM unnest(setconfig) c WHERE c ~* '^(tenancy\.|row_security=|role=|session_authorization=)')$$,
  'no role or database default sets a tenancy context, row_security or a role');

-- 11-16: tenancy_admin's.
SELECT isnt_superuser('tenancy_admin', 'tenancy_admin is not a superuser');
SELECT is((SELECT rolbypassrls FROM pg_roles WHERE rolname = 'tenancy_admin'), true,
          'tenancy_admin has BYPASSRLS (the audited cross-tenant path)');
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'tenancy_admin'), false,
          'tenancy_admin is NOLOGIN');
SELECT is((SELECT rolcreaterole FROM pg_roles WHERE rolname = 'tenancy_admin'), false,
          'tenancy_admin has NOCREATEROLE');
SELECT is((SELECT rolcreatedb FROM pg_roles WHERE rolname = 'tenancy_admin'), false,
          'tenancy_admin has NOCREATEDB');
SELECT is((SELECT rolreplication FROM pg_roles WHERE rolname = 'tenancy_admin'), false,
          'tenancy_admin has NOREPLICATION');

-- 17-19: memberships: tenancy_app holds no other role's rights, in particular not the
-- tables' owner's (owners may ALTER or DISABLE the policies).
SELECT is_empty(
  $$SELECT roleid::regrole FROM pg_auth_members WHERE member = 'tenancy_app'::regrole$$,
  'tenancy_app is a member of no role');
SELECT is_empty(
  $$SELECT roleid::regrole FROM pg_auth_members WHERE member = 'tenancy_admin'::regrole$$,
  'tenancy_admin is a member of no role');
SELECT ok(
  NOT pg_has_role('tenancy_app', (SELECT relowner FROM pg_class WHERE oid = 'public.tenants'::regclass), 'USAGE')
  AND NOT pg_has_role('tenancy_app', (SELECT relowner FROM pg_class WHERE oid = 'public.tenants'::regclass), 'MEMBER'),
  'tenancy_app can neither use nor become the tables'' owner');

-- 20-23: neither role owns anything: no table, function, schema, type, database... anywhere
-- in the cluster (pg_shdepend records every owner).
SELECT is_empty(
  $$SELECT classid::regclass, objid FROM pg_shdepend
    WHERE refclassid = 'pg_authid'::regclass AND refobjid = 'tenancy_app'::regrole AND deptype = 'o'$$,
  'tenancy_app owns nothing');
SELECT is_empty(
  $$SELECT classid::regclass, objid FROM pg_shdepend
    WHERE refclassid = 'pg_authid'::regclass AND refobjid = 'tenancy_admin'::regrole AND deptype = 'o'$$,
  'tenancy_admin owns nothing');
SELECT is_empty(
  $$SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('public', 'tenancy')
      AND c.relowner IN ('tenancy_app'::regrole, 'tenancy_admin'::regrole)$$,
  'no relation of schema public or tenancy is owned by tenancy_app or tenancy_admin');
SELECT is_empty(
  $$SELECT p.oid::regprocedure FROM pg_proc p
    WHERE p.proowner IN ('tenancy_app'::regrole, 'tenancy_admin'::regrole)$$,
  'no function is owned by tenancy_app or tenancy_admin');

-- 24-25: the tables' owner is neither role (FORCE binds it, but it can still ALTER the table).
SELECT table_owner_is('public', 'audit_log', (SELECT tableowner FROM pg_tables WHERE tablename = 'tenants'),
                      'audit_log and tenants have the same owner (the migrating role)');
SELECT ok(
  (SELECT tableowner FROM pg_tables WHERE tablename = 'tenants') NOT IN ('tenancy_app', 'tenancy_admin'),
  'the tables are owned by the migrating role, not by tenancy_app or tenancy_admin');

-- 26-27: as tenancy_app, current_user reflects it and it cannot grant itself more.
SET LOCAL ROLE tenancy_app;
SELECT is(current_user::text, 'tenancy_app', 'SET LOCAL ROLE tenancy_app is in effect');
SELECT throws_ok($$ALTER ROLE tenancy_app BYPASSRLS$$, '42501', NULL,
                 'tenancy_app cannot give itself BYPASSRLS');

SELECT * FROM finish();
ROLLBACK;
