-- The exact row level security policies of every table: names, commands, roles,
-- PERMISSIVE/RESTRICTIVE and predicate text.
--
-- `CURRENT_USER` in the migrations is the migrating role, i.e. the tables' owner; it is looked
-- up from the catalog so that these tests do not depend on its name.
BEGIN;
SELECT plan(118);

CREATE FUNCTION pg_temp.owner() RETURNS name LANGUAGE sql STABLE
  RETURN (SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'tenants');
-- Tables whose only policies are the two tenant policies, both FOR ALL.
CREATE FUNCTION pg_temp.plain_tenant_tables() RETURNS name[] LANGUAGE sql IMMUTABLE
  RETURN ARRAY['principals', 'org_members', 'teams', 'team_members', 'workspaces', 'api_keys',
               'api_key_usage']::name[];
CREATE FUNCTION pg_temp.tenant_tables() RETURNS name[] LANGUAGE sql IMMUTABLE
  RETURN pg_temp.plain_tenant_tables()
    || ARRAY['resources', 'resource_acl', 'audit_log']::name[];
-- The tenant predicate of table `t`: the context read once per statement (an init plan),
-- except on the tables other tables' policies read, where an init plan would make PostgreSQL
-- report policy recursion and the STABLE call is read once per scan instead.
CREATE FUNCTION pg_temp.tenant_pred(t name) RETURNS text LANGUAGE sql IMMUTABLE
  RETURN format('(%s = %s)',
    CASE t WHEN 'tenants' THEN 'id' ELSE 'tenant_id' END,
    CASE WHEN t IN ('workspaces', 'resources', 'resource_acl') THEN 'tenancy.current_tenant()'
         ELSE '( SELECT tenancy.current_tenant() AS current_tenant)' END);

-- 1-14: the policy names, table by table (no more, no fewer).
SELECT policies_are('public', t, ARRAY['tenant_access', 'tenant_isolation']::name[],
                    format('%s has exactly the tenant_access and tenant_isolation policies', t))
FROM unnest(pg_temp.plain_tenant_tables()) AS t;
SELECT policies_are('public', 'resources',
  ARRAY['tenant_access', 'tenant_isolation', 'resource_read', 'resource_insert',
        'resource_update', 'resource_delete']::name[],
  'resources has exactly the tenant policies and the four resource_* ACL policies');
SELECT policies_are('public', 'resource_acl',
  ARRAY['tenant_access', 'tenant_isolation', 'acl_write', 'acl_update', 'acl_delete']::name[],
  'resource_acl has exactly the tenant policies and the three acl_* policies');
SELECT policies_are('public', 'audit_log',
  ARRAY['tenant_access', 'tenant_append', 'tenant_isolation']::name[],
  'audit_log has exactly tenant_access (SELECT), tenant_append (INSERT) and tenant_isolation');
SELECT policies_are('public', 'tenants', ARRAY['tenant_access', 'tenant_isolation']::name[],
  'tenants has exactly the tenant_access and tenant_isolation policies');
SELECT is_empty(
  $$SELECT polname FROM pg_policy
    WHERE polrelid IN ('public.users'::regclass, 'public.role_permissions'::regclass,
                       'tenancy.settings'::regclass)$$,
  'users, role_permissions and tenancy.settings have no policy (they are protected by grants)');
-- Every policy in the database is on one of the tables above (a policy on a new table needs
-- a review here).
SELECT is_empty(
  $$SELECT polrelid::regclass, polname FROM pg_policy
    WHERE polrelid <> ALL (ARRAY(SELECT format('public.%I', t)::regclass
                                 FROM unnest(pg_temp.tenant_tables() || 'tenants'::name) t))$$,
  'no policy exists on any other table');
SELECT is(
  (SELECT count(*) FROM pg_policy)::int, 30,
  'the database has exactly 30 policies');

-- 15-44: the command of every policy.
SELECT policy_cmd_is('public', t, 'tenant_access', 'ALL',
                     format('%s.tenant_access is FOR ALL', t))
FROM unnest(pg_temp.plain_tenant_tables() || ARRAY['resources', 'resource_acl']::name[]) AS t;
SELECT policy_cmd_is('public', t, 'tenant_access', 'SELECT',
                     format('%s.tenant_access is FOR SELECT only', t))
FROM unnest(ARRAY['audit_log', 'tenants']::name[]) AS t;
SELECT policy_cmd_is('public', t, 'tenant_isolation', 'ALL',
                     format('%s.tenant_isolation is FOR ALL', t))
FROM unnest(pg_temp.tenant_tables() || 'tenants'::name) AS t;
SELECT policy_cmd_is('public', 'audit_log', 'tenant_append', 'INSERT',
                     'audit_log.tenant_append is FOR INSERT only');
SELECT policy_cmd_is('public', 'resources', p, c, format('resources.%s is FOR %s', p, c))
FROM (VALUES ('resource_read', 'SELECT'), ('resource_insert', 'INSERT'),
             ('resource_update', 'UPDATE'), ('resource_delete', 'DELETE')) AS v(p, c);
SELECT policy_cmd_is('public', 'resource_acl', p, c, format('resource_acl.%s is FOR %s', p, c))
FROM (VALUES ('acl_write', 'INSERT'), ('acl_update', 'UPDATE'), ('acl_delete', 'DELETE')) AS v(p, c);

-- 45-74: the roles of every policy. (PUBLIC is no row of pg_roles, so pgTAP sees a policy
-- TO PUBLIC as one with no role; the predicate tests below check `{public}` itself.)
SELECT policy_roles_are('public', t, 'tenant_access', ARRAY['tenancy_app', pg_temp.owner()],
                        format('%s.tenant_access applies to tenancy_app and the tables'' owner', t))
FROM unnest(pg_temp.tenant_tables()) AS t;
-- The owner reads its tenant's row too: `tenancy.enter()` checks the tenant's status as the
-- owner (SECURITY DEFINER).
SELECT policy_roles_are('public', 'tenants', 'tenant_access', ARRAY['tenancy_app', pg_temp.owner()],
                        'tenants.tenant_access applies to tenancy_app and the tables'' owner');
SELECT policy_roles_are('public', 'audit_log', 'tenant_append', ARRAY['tenancy_app', pg_temp.owner()],
                        'audit_log.tenant_append applies to tenancy_app and the tables'' owner');
SELECT policy_roles_are('public', t, 'tenant_isolation', ARRAY[]::name[],
                        format('%s.tenant_isolation names no role (TO PUBLIC)', t))
FROM unnest(pg_temp.tenant_tables() || 'tenants'::name) AS t;
SELECT policy_roles_are('public', tbl, p, ARRAY['tenancy_app']::name[],
                        format('%s.%s applies to tenancy_app only', tbl, p))
FROM (VALUES ('resources', 'resource_read'), ('resources', 'resource_insert'),
             ('resources', 'resource_update'), ('resources', 'resource_delete'),
             ('resource_acl', 'acl_write'), ('resource_acl', 'acl_update'),
             ('resource_acl', 'acl_delete')) AS v(tbl, p);

-- 75-85: tenant_isolation is RESTRICTIVE, TO PUBLIC, and both its USING and WITH CHECK are
-- exactly `tenant_id = tenancy.current_tenant()` (`id` for tenants): no OR, no escape hatch.
SELECT results_eq(
  format($$SELECT permissive::text, roles::text COLLATE "default", qual COLLATE "default", with_check COLLATE "default" FROM pg_policies
           WHERE schemaname = 'public' AND tablename = %L AND policyname = 'tenant_isolation'$$, t),
  format($$VALUES ('RESTRICTIVE', '{public}', %1$L, %1$L)$$,
         pg_temp.tenant_pred(t)),
  format('%s.tenant_isolation: RESTRICTIVE, TO PUBLIC, USING and WITH CHECK on the current tenant', t)
) FROM unnest(pg_temp.tenant_tables() || 'tenants'::name) AS t;

-- 86-96: tenant_access is PERMISSIVE with the same predicate (USING only where FOR SELECT).
SELECT results_eq(
  format($$SELECT permissive::text, qual COLLATE "default", with_check COLLATE "default" FROM pg_policies
           WHERE schemaname = 'public' AND tablename = %L AND policyname = 'tenant_access'$$, t),
  format($$VALUES ('PERMISSIVE', %L, %L)$$, pg_temp.tenant_pred(t),
         CASE WHEN t = 'audit_log' THEN NULL ELSE pg_temp.tenant_pred(t) END),
  format('%s.tenant_access: PERMISSIVE on the current tenant', t)
) FROM unnest(pg_temp.tenant_tables()) AS t;
SELECT results_eq(
  $$SELECT permissive::text, qual COLLATE "default", with_check COLLATE "default" FROM pg_policies
    WHERE schemaname = 'public' AND tablename = 'tenants' AND policyname = 'tenant_access'$$,
  $$VALUES ('PERMISSIVE', '(id = ( SELECT tenancy.current_tenant() AS current_tenant))', NULL::text)$$,
  'tenants.tenant_access: PERMISSIVE, a tenant sees only its own tenants row');

-- 97: audit_log.tenant_append.
SELECT results_eq(
  $$SELECT permissive::text, qual COLLATE "default", with_check COLLATE "default" FROM pg_policies
    WHERE schemaname = 'public' AND tablename = 'audit_log' AND policyname = 'tenant_append'$$,
  format($$VALUES ('PERMISSIVE', NULL::text, %L)$$, pg_temp.tenant_pred('audit_log')),
  'audit_log.tenant_append: PERMISSIVE, WITH CHECK on the current tenant');

-- 98: catalog-wide: only tenant_access and tenant_append are PERMISSIVE, so a policy added
-- later can only narrow access, never widen it across tenants.
SELECT set_eq(
  $$SELECT DISTINCT policyname::text FROM pg_policies WHERE permissive = 'PERMISSIVE'$$,
  ARRAY['tenant_access', 'tenant_append'],
  'the only PERMISSIVE policies are tenant_access and tenant_append');

-- 99: catalog-wide: every table with RLS has a RESTRICTIVE FOR ALL TO PUBLIC policy whose
-- USING and WITH CHECK compare its tenant column with tenancy.current_tenant().
SELECT is_empty(
  $$SELECT c.oid::regclass FROM pg_class c
    WHERE c.relrowsecurity AND NOT EXISTS (
      SELECT FROM pg_policies p
      WHERE p.schemaname = c.relnamespace::regnamespace::name AND p.tablename = c.relname
        AND p.permissive = 'RESTRICTIVE' AND p.cmd = 'ALL' AND p.roles = '{public}'
        AND p.qual IN ('(tenant_id = tenancy.current_tenant())', '(id = tenancy.current_tenant())',
                       '(tenant_id = ( SELECT tenancy.current_tenant() AS current_tenant))',
                       '(id = ( SELECT tenancy.current_tenant() AS current_tenant))')
        AND p.with_check = p.qual)$$,
  'every table with row level security has a RESTRICTIVE tenant policy for everyone');

-- 100-107: the resource visibility and ACL policies (RESTRICTIVE: they only ever narrow).
SELECT is(
  (SELECT permissive FROM pg_policies WHERE tablename = tbl AND policyname = p),
  'RESTRICTIVE', format('%s.%s is RESTRICTIVE', tbl, p))
FROM (VALUES ('resources', 'resource_read'), ('resources', 'resource_insert'),
             ('resources', 'resource_update'), ('resources', 'resource_delete'),
             ('resource_acl', 'acl_write'), ('resource_acl', 'acl_update'),
             ('resource_acl', 'acl_delete')) AS v(tbl, p);
-- The caller's principals are the only identity any of them uses.
SELECT is_empty(
  $$SELECT policyname FROM pg_policies
    WHERE policyname ~ '^(resource|acl)_'
      AND coalesce(qual, with_check) !~ 'tenancy\.caller_principals\(\)'$$,
  'every resource_* and acl_* policy checks tenancy.caller_principals()');

-- 108-118: the predicates, piece by piece (whitespace-insensitive).
CREATE FUNCTION pg_temp.pred(tbl name, p name) RETURNS text LANGUAGE sql STABLE
  RETURN (SELECT regexp_replace(coalesce(qual, '') || ' | ' || coalesce(with_check, ''), '\s+', ' ', 'g')
          FROM pg_policies WHERE schemaname = 'public' AND tablename = tbl AND policyname = p);
SELECT matches(pg_temp.pred('resources', 'resource_read'),
  $re$^\(\(visibility = 'tenant'::resource_visibility\) OR \(owner_principal_id = ANY $re$,
  'resource_read: tenant-wide resources, or the caller owns it, ...');
SELECT matches(pg_temp.pred('resources', 'resource_read'),
  $re$\(visibility = 'workspace'::resource_visibility\) AND \(EXISTS \( SELECT 1 FROM workspaces w WHERE \(\(w\.tenant_id = resources\.tenant_id\) AND \(w\.id = resources\.workspace_id\) AND \(\(w\.kind = 'org'::workspace_kind\) OR \(w\.owner_principal_id = ANY $re$,
  'resource_read: ... or a workspace resource in an org workspace or one the caller owns, ...');
SELECT matches(pg_temp.pred('resources', 'resource_read'),
  $re$EXISTS \( SELECT 1 FROM resource_acl a WHERE \(\(a\.tenant_id = resources\.tenant_id\) AND \(a\.resource_id = resources\.id\) AND \(a\.principal_id = ANY \(\( SELECT tenancy\.caller_principals\(\) AS caller_principals\)::uuid\[\]\)\)\)\)\)\) \| $$re$,
  'resource_read: ... or an ACL grant to the caller; USING only');
SELECT is(pg_temp.pred('resources', 'resource_insert'),
  ' | (owner_principal_id = ANY (( SELECT tenancy.caller_principals() AS caller_principals)::uuid[]))',
  'resource_insert: WITH CHECK the new row''s owner is the caller or one of its teams');
SELECT matches(pg_temp.pred('resources', 'resource_update'),
  $re$^\(\(owner_principal_id = ANY .* AND \(a\.permission = ANY \(ARRAY\['write'::acl_permission, 'admin'::acl_permission\]\)\)\)\)\)\) \| $$re$,
  'resource_update: the owner, or an ACL grant of write or admin');
SELECT matches(pg_temp.pred('resources', 'resource_delete'),
  $re$^\(\(owner_principal_id = ANY .* AND \(a\.permission = 'admin'::acl_permission\)\)\)\)\) \| $$re$,
  'resource_delete: the owner, or an ACL grant of admin');
SELECT doesnt_match(pg_temp.pred('resources', 'resource_delete'), 'write',
  'resource_delete: a write grant does not allow deleting');
SELECT is(pg_temp.pred('resource_acl', p),
  CASE p WHEN 'acl_write' THEN ' | ' ELSE '' END
  || '(EXISTS ( SELECT 1 FROM resources r WHERE ((r.tenant_id = resource_acl.tenant_id) AND (r.id = resource_acl.resource_id) AND (r.owner_principal_id = ANY (( SELECT tenancy.caller_principals() AS caller_principals)::uuid[])))))'
  || CASE p WHEN 'acl_write' THEN '' ELSE ' | ' END,
  format('%s: only the resource''s owner (in the same tenant)', p))
FROM unnest(ARRAY['acl_write', 'acl_update', 'acl_delete']::name[]) AS p;
SELECT is_empty(
  $$SELECT policyname FROM pg_policies
    WHERE policyname ~ '^(resource|acl)_' AND coalesce(qual, '') || coalesce(with_check, '') ~* '\m(true|current_user|session_user)\M'$$,
  'no resource_* or acl_* policy has a constant-true or role-dependent escape');

SELECT * FROM finish();
ROLLBACK;
