-- tenancy 1/4: roles, the `tenancy` schema and the context functions every policy reads.
--
-- Roles are cluster-wide. They are created only when missing; a role created here carries
-- a comment marker so that `down.sql` drops only what this migration created. Creating a
-- BYPASSRLS role needs a superuser (PostgreSQL 15); where the migrations run as a
-- non-superuser, create both roles beforehand with the attributes below.
DO $$
DECLARE
  app record;
BEGIN
  -- The inner blocks tolerate another database of the cluster creating the role at the same
  -- moment (roles are shared; the check above and the CREATE are not atomic together).
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenancy_app') THEN
    BEGIN
      CREATE ROLE tenancy_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
      COMMENT ON ROLE tenancy_app IS 'tenancy: created by migrations';
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenancy_admin') THEN
    BEGIN
      CREATE ROLE tenancy_admin NOLOGIN NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
      COMMENT ON ROLE tenancy_admin IS 'tenancy: created by migrations';
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;

  -- A pre-existing application role must not be able to skip row level security, and must
  -- not inherit the owner's rights (owners are exempt from policies unless FORCEd, and may
  -- ALTER or DISABLE them).
  SELECT rolsuper, rolbypassrls INTO app FROM pg_roles WHERE rolname = 'tenancy_app';
  IF app.rolsuper OR app.rolbypassrls THEN
    RAISE EXCEPTION 'role tenancy_app is SUPERUSER or BYPASSRLS: row level security would not apply to it'
      USING HINT = 'ALTER ROLE tenancy_app NOSUPERUSER NOBYPASSRLS, then run the migrations again';
  END IF;
  IF pg_has_role('tenancy_app', current_user, 'MEMBER') THEN
    RAISE EXCEPTION 'role tenancy_app is a member of %, which will own the tenancy tables', current_user
      USING HINT = format('REVOKE %I FROM tenancy_app, or run the migrations as another role', current_user);
  END IF;
END
$$;

CREATE SCHEMA tenancy;
COMMENT ON SCHEMA tenancy IS 'tenancy: context functions, RLS mode and audit chain helpers';
GRANT USAGE ON SCHEMA tenancy TO tenancy_app, tenancy_admin;

-- The runtime sets these with SET LOCAL in the same round trip as BEGIN. A pooled
-- connection reports '' (not NULL) for a setting after its first transaction, hence NULLIF.
-- Plain STABLE SQL functions so the planner inlines them: `tenant_id = tenancy.current_tenant()`
-- then becomes an index condition.
CREATE FUNCTION tenancy.current_tenant() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  RETURN NULLIF(current_setting('tenancy.tenant_id', true), '')::uuid;

CREATE FUNCTION tenancy.current_principal() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  RETURN NULLIF(current_setting('tenancy.principal_id', true), '')::uuid;

-- Time-ordered UUIDs (RFC 9562 version 7) for rows inserted by raw SQL: the first 48 bits
-- are Unix milliseconds, so new keys land at the right edge of `(tenant_id, id)` indexes.
CREATE FUNCTION tenancy.uuid_v7() RETURNS uuid
  LANGUAGE sql VOLATILE PARALLEL SAFE
AS $$
  SELECT encode(set_byte(b, 6, (get_byte(b, 6) & 15) | 112), 'hex')::uuid
  FROM (
    SELECT overlay(
      uuid_send(gen_random_uuid())
      PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
      FROM 1 FOR 6
    ) AS b
  ) AS random_with_time
$$;

CREATE FUNCTION tenancy.touch_updated_at() RETURNS trigger
  LANGUAGE plpgsql
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

-- Shadow mode: the policies stay in place but are not enforced, for teams adopting tenancy
-- on an existing application. Only the owner of the tables can switch (ALTER TABLE).
CREATE TABLE tenancy.settings (
  key text PRIMARY KEY,
  value text NOT NULL
);
INSERT INTO tenancy.settings VALUES ('rls_mode', 'enforce');
GRANT SELECT ON tenancy.settings TO tenancy_app, tenancy_admin;

CREATE FUNCTION tenancy.rls_mode() RETURNS text
  LANGUAGE sql STABLE
  RETURN (SELECT value FROM tenancy.settings WHERE key = 'rls_mode');

CREATE FUNCTION tenancy.set_rls_mode(mode text) RETURNS text
  LANGUAGE plpgsql
AS $$
DECLARE
  t regclass;
BEGIN
  IF mode IS NULL OR mode NOT IN ('shadow', 'enforce') THEN
    RAISE EXCEPTION 'invalid rls mode %: expected ''shadow'' or ''enforce''', quote_nullable(mode)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- Every table protected the tenancy way carries a `tenant_isolation` policy.
  FOR t IN
    SELECT DISTINCT p.polrelid::regclass FROM pg_policy p WHERE p.polname = 'tenant_isolation'
  LOOP
    IF mode = 'shadow' THEN
      EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', t);
    ELSE
      EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
      EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
    END IF;
  END LOOP;
  UPDATE tenancy.settings SET value = mode WHERE key = 'rls_mode';
  RETURN mode;
END
$$;
REVOKE ALL ON FUNCTION tenancy.set_rls_mode(text) FROM PUBLIC;
