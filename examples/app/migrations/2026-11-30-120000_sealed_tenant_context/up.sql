-- tenancy: a tenant context that the SQL it polices cannot forge or replay.
--
-- Before this migration the policies read `tenancy.tenant_id`, a setting any SQL in the
-- transaction could change (`SET`, `set_config`, `RESET`). Now a login that is a member of
-- `tenancy_app` gets a context only through `tenancy.enter(...)`, which accepts it only with
-- an HMAC-SHA256 computed with a key the application holds and `tenancy_app` cannot read,
-- bound to this database session and to a counter that must grow. The policies then read the
-- verified context once per statement. docs/adr/0002-sealed-tenant-context.md explains the
-- design and what it does not cover.

-- The key. Readable by the table owner and `tenancy_admin` only: the application reads it
-- through its admin login when it starts (or is given it in its configuration).
CREATE TABLE tenancy.context_key (
  id int PRIMARY KEY CHECK (id = 1),
  key bytea NOT NULL CHECK (length(key) = 32),
  -- HMAC's inner and outer padded keys, precomputed so verification is two SHA-256 calls.
  ipad bytea NOT NULL,
  opad bytea NOT NULL
);
REVOKE ALL ON tenancy.context_key FROM PUBLIC;
GRANT SELECT ON tenancy.context_key TO tenancy_admin;

CREATE FUNCTION tenancy.install_context_key(new_key bytea) RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ipad bytea := '\x'::bytea;
  opad bytea := '\x'::bytea;
  padded bytea;
BEGIN
  IF new_key IS NULL OR length(new_key) <> 32 THEN
    RAISE EXCEPTION 'tenancy: the context key must be 32 bytes' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  padded := new_key || decode(repeat('00', 32), 'hex');
  FOR i IN 0..63 LOOP
    ipad := ipad || set_byte('\x00'::bytea, 0, get_byte(padded, i) # 54);
    opad := opad || set_byte('\x00'::bytea, 0, get_byte(padded, i) # 92);
  END LOOP;
  INSERT INTO tenancy.context_key (id, key, ipad, opad) VALUES (1, new_key, ipad, opad)
  ON CONFLICT (id) DO UPDATE SET key = excluded.key, ipad = excluded.ipad, opad = excluded.opad;
END
$$;
REVOKE ALL ON FUNCTION tenancy.install_context_key(bytea) FROM PUBLIC;
COMMENT ON FUNCTION tenancy.install_context_key(bytea) IS
  'tenancy: replaces the context key; applications holding the old key must be restarted';

-- 32 random bytes from two v4 UUIDs' random bits (244 bits); pgcrypto is not required.
SELECT tenancy.install_context_key(
  substring(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) FROM 1 FOR 32));

-- Per-session state that `tenancy_app` cannot write: a sequence's `currval` belongs to the
-- session and only moves through `nextval`/`setval`, which need rights on the sequence that
-- only the owner (and so its SECURITY DEFINER functions) has.
--   session_seq:        a number no other session ever gets (the session's identity in the MAC).
--   counter_seq:        the last counter `enter` accepted in this session.
--   nonce_hi, nonce_lo: 128 random bits drawn by `enter` for the current context. The context
--                       setting carries a SHA-256 tag over them; SQL can read the setting but
--                       not the nonce, so it cannot make a tag for another tenant.
-- The per-session ones are unlogged: they change on every transaction and are never needed
-- after a crash, when every session is new.
CREATE SEQUENCE tenancy.session_seq;
CREATE UNLOGGED SEQUENCE tenancy.counter_seq MINVALUE 0 START 0;
CREATE UNLOGGED SEQUENCE tenancy.nonce_hi MINVALUE -9223372036854775808 START 0;
CREATE UNLOGGED SEQUENCE tenancy.nonce_lo MINVALUE -9223372036854775808 START 0;
REVOKE ALL ON SEQUENCE tenancy.session_seq, tenancy.counter_seq, tenancy.nonce_hi,
  tenancy.nonce_lo FROM PUBLIC;

-- Called once per connection, when the pool opens it. Returns the session's number, which
-- the application binds every context of this connection to. Calling it again only starts a
-- new number: every MAC made for the old one is void.
CREATE FUNCTION tenancy.open_session() RETURNS bigint
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s bigint := nextval('tenancy.session_seq');
BEGIN
  PERFORM setval('tenancy.counter_seq', 0, true),
          setval('tenancy.nonce_hi', 0, true), setval('tenancy.nonce_lo', 0, true);
  RETURN s;
END
$$;
COMMENT ON FUNCTION tenancy.open_session() IS
  'tenancy: reviewed: only starts a new session number; every older MAC is void afterwards';
REVOKE ALL ON FUNCTION tenancy.open_session() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.open_session() TO tenancy_app;

-- Opens the context of the current transaction (and, with `check_status`, fails for an
-- unknown, deleted or suspended tenant). `mac` is, in lowercase hex,
--   HMAC-SHA256(key, 'enter|<session>|<counter>|<tenant or ''>|<principal or ''>')
-- and `counter` must be larger than every counter accepted before in this session, so a
-- value seen in `pg_stat_activity` or a log is useless: another session has another number,
-- and this session has moved past it. The context goes into `tenancy.context`
-- (transaction-local) as `<tenant>|<principal>|<tag>`, the tag a SHA-256 over a fresh nonce
-- that only this session's sequences hold.
CREATE FUNCTION tenancy.enter(
  tenant uuid, principal uuid, counter bigint, mac text, check_status boolean DEFAULT false)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  -- Fails ("currval ... is not yet defined") on a connection without a tenancy session.
  s bigint := currval('tenancy.session_seq');
  k record;
  t text := coalesce(tenant::text, '');
  p text := coalesce(principal::text, '');
  n1 bigint;
  n2 bigint;
  st record;
BEGIN
  SELECT ipad, opad INTO k FROM tenancy.context_key WHERE id = 1;
  IF mac IS NULL OR counter IS NULL OR k IS NULL
     OR mac <> encode(sha256(k.opad || sha256(k.ipad || convert_to(
          'enter|' || s || '|' || counter || '|' || t || '|' || p, 'UTF8'))), 'hex') THEN
    RAISE EXCEPTION 'tenancy: tenant context refused: bad MAC'
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'only the application holding the context key can open a tenant context';
  END IF;
  IF counter <= currval('tenancy.counter_seq') THEN
    RAISE EXCEPTION 'tenancy: tenant context refused: replayed counter'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  n1 := ('x' || replace(gen_random_uuid()::text, '-', ''))::bit(64)::bigint;
  n2 := ('x' || replace(gen_random_uuid()::text, '-', ''))::bit(64)::bigint;
  PERFORM setval('tenancy.counter_seq', counter, true),
          setval('tenancy.nonce_hi', n1, true), setval('tenancy.nonce_lo', n2, true);
  PERFORM set_config('tenancy.context', t || '|' || p || '|' || encode(sha256(convert_to(
    n1 || '|' || n2 || '|' || t || '|' || p, 'UTF8')), 'hex'), true);
  -- The tenant status check of the foundation schema, in the same statement.
  IF check_status AND tenant IS NOT NULL THEN
    SELECT x.status::text AS status, x.deleted_at IS NOT NULL AS deleted INTO st
    FROM public.tenants x WHERE x.id = tenant;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'tenancy: unknown tenant %', tenant USING ERRCODE = 'no_data_found';
    END IF;
    IF st.deleted THEN
      RAISE EXCEPTION 'tenancy: tenant % is deleted', tenant USING ERRCODE = 'no_data_found';
    END IF;
    IF st.status <> 'active' THEN
      RAISE EXCEPTION 'tenancy: tenant % is suspended', tenant
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  END IF;
END
$$;
COMMENT ON FUNCTION tenancy.enter(uuid, uuid, bigint, text, boolean) IS
  'tenancy: reviewed: accepts a context only with a MAC over this session and a fresh counter';
REVOKE ALL ON FUNCTION tenancy.enter(uuid, uuid, bigint, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.enter(uuid, uuid, bigint, text, boolean) TO tenancy_app;

-- The verified tenant and principal (NULL when none is set):
--   * `tenancy.context` set: its tag must match this session's current nonce, or the
--     statement fails (someone changed it inside the transaction).
--   * otherwise, for a session whose login is a superuser or not a member of `tenancy_app`
--     (the owner, the admin login: roles that could switch row level security off anyway),
--     the plain settings `tenancy.tenant_id`/`tenancy.principal_id` still work, for
--     maintenance, tests and the audit writer. For the application's login they are ignored.
-- They run in every policy; besides the fixed search_path every name is schema-qualified.
-- Raised by the reader when the context setting does not carry this session's tag.
CREATE FUNCTION tenancy.context_changed() RETURNS uuid
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RAISE EXCEPTION 'tenancy: the tenant context was changed inside the transaction'
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'tenancy.context is set by tenancy.enter(); SQL cannot set it';
END
$$;
REVOKE ALL ON FUNCTION tenancy.context_changed() FROM PUBLIC;

-- One expression, so that PL/pgSQL prepares one expression state per transaction: this runs
-- in every policy, and its first call in a transaction is most of its cost.
CREATE FUNCTION tenancy.verified_context(part integer, plain_setting text) RETURNS uuid
  LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN CASE
    WHEN NULLIF(current_setting('tenancy.context', true), '') IS NULL THEN
      CASE WHEN tenancy.trusted_session()
        THEN NULLIF(current_setting(plain_setting, true), '')::uuid END
    WHEN split_part(current_setting('tenancy.context', true), '|', 3) = encode(sha256(convert_to(
           currval('tenancy.nonce_hi') || '|' || currval('tenancy.nonce_lo') || '|'
           || split_part(current_setting('tenancy.context', true), '|', 1) || '|'
           || split_part(current_setting('tenancy.context', true), '|', 2), 'UTF8')), 'hex')
      THEN NULLIF(split_part(current_setting('tenancy.context', true), '|', part), '')::uuid
    ELSE tenancy.context_changed()
  END;
END
$$;
COMMENT ON FUNCTION tenancy.verified_context(integer, text) IS
  'tenancy: reviewed: returns part of the context tenancy.enter() verified, never a value SQL set';
REVOKE ALL ON FUNCTION tenancy.verified_context(integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.verified_context(integer, text) TO tenancy_app, tenancy_admin;

-- Plain SQL wrappers, inlined into the policies: the call is the verified reader itself.
CREATE OR REPLACE FUNCTION tenancy.current_tenant() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL RESTRICTED
  RETURN tenancy.verified_context(1, 'tenancy.tenant_id');

CREATE OR REPLACE FUNCTION tenancy.current_principal() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL RESTRICTED
  RETURN tenancy.verified_context(2, 'tenancy.principal_id');

-- Whether this session's login could bypass row level security anyway, so that the plain
-- settings may stand in for an entered context.
CREATE FUNCTION tenancy.trusted_session() RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  RETURN (SELECT r.rolsuper OR NOT pg_has_role(r.oid, 'tenancy_app', 'MEMBER')
          FROM pg_roles r WHERE r.rolname = session_user);
REVOKE ALL ON FUNCTION tenancy.trusted_session() FROM PUBLIC;


-- Rewrites the predicates of every policy, replacing `old_call` by `new_call`; used below and,
-- reversed, by this migration's down.sql. Not on a table that another table's policy reads
-- (here `resource_acl`, `resources` and `workspaces`): the init plan is a sub-query, and
-- PostgreSQL refuses policies with sub-queries that lead back to a table whose policies are
-- being expanded ("infinite recursion detected in policy"). There the function stays a plain
-- call, which is still evaluated once per index scan because it is STABLE.
CREATE FUNCTION tenancy.rewrite_policies(old_call text, new_call text) RETURNS void
  LANGUAGE plpgsql
AS $$
DECLARE
  pol record;
  qual text;
  chk text;
  stmt text;
BEGIN
  FOR pol IN
    SELECT p.polname, p.polrelid::regclass AS rel,
           pg_get_expr(p.polqual, p.polrelid) AS qual,
           pg_get_expr(p.polwithcheck, p.polrelid) AS chk
    FROM pg_policy p
    JOIN pg_class c ON c.oid = p.polrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND NOT EXISTS (
        SELECT FROM pg_depend d
        JOIN pg_policy other ON other.oid = d.objid
        WHERE d.classid = 'pg_policy'::regclass AND d.refclassid = 'pg_class'::regclass
          AND d.refobjid = p.polrelid AND other.polrelid <> p.polrelid)
  LOOP
    qual := replace(pol.qual, old_call, new_call);
    chk := replace(pol.chk, old_call, new_call);
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
    EXECUTE stmt;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION tenancy.rewrite_policies(text, text) FROM PUBLIC;

-- The policies read the context once per statement (an init plan) instead of once per row.
SELECT tenancy.rewrite_policies('tenancy.current_tenant()', '(SELECT tenancy.current_tenant())'),
       tenancy.rewrite_policies('tenancy.current_principal()', '(SELECT tenancy.current_principal())');

-- Temporary tables shadow real ones of the same name for the rest of the session: on a
-- pooled connection a temporary `posts` created in one tenant's transaction would be read
-- and written by the next tenant's. The application role gets no TEMPORARY right.
DO $$
BEGIN
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), current_user);
END
$$;
