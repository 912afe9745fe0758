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

-- HMAC-SHA256 of `msg`, hex. Only the owner's SECURITY DEFINER functions call it.
CREATE FUNCTION tenancy.context_mac(msg text) RETURNS text
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  RETURN (SELECT encode(sha256(k.opad || sha256(k.ipad || convert_to(msg, 'UTF8'))), 'hex')
          FROM tenancy.context_key k WHERE k.id = 1);
REVOKE ALL ON FUNCTION tenancy.context_mac(text) FROM PUBLIC;

-- Per-session state that `tenancy_app` cannot write: a sequence's `currval` belongs to the
-- session and only moves through `nextval`/`setval`, which need rights on the sequence that
-- only the owner (and so its SECURITY DEFINER functions) has.
--   session_seq:   a number no other session ever gets (the session's identity in the MAC).
--   context_seq:   4 * the last counter `enter` accepted in this session + 1 (tenant set)
--                  + 2 (principal set).
--   tenant_hi/lo, principal_hi/lo: the verified tenant and principal, 64 bits each.
-- The per-session ones are unlogged: they are set on every transaction and never needed after
-- a crash, when every session is new.
CREATE SEQUENCE tenancy.session_seq;
CREATE UNLOGGED SEQUENCE tenancy.context_seq MINVALUE 0 START 0;
CREATE UNLOGGED SEQUENCE tenancy.tenant_hi MINVALUE -9223372036854775808 START 0;
CREATE UNLOGGED SEQUENCE tenancy.tenant_lo MINVALUE -9223372036854775808 START 0;
CREATE UNLOGGED SEQUENCE tenancy.principal_hi MINVALUE -9223372036854775808 START 0;
CREATE UNLOGGED SEQUENCE tenancy.principal_lo MINVALUE -9223372036854775808 START 0;
REVOKE ALL ON SEQUENCE tenancy.session_seq, tenancy.context_seq, tenancy.tenant_hi,
  tenancy.tenant_lo, tenancy.principal_hi, tenancy.principal_lo FROM PUBLIC;

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
  PERFORM setval('tenancy.context_seq', 0, true);
  PERFORM setval('tenancy.tenant_hi', 0, true), setval('tenancy.tenant_lo', 0, true),
          setval('tenancy.principal_hi', 0, true), setval('tenancy.principal_lo', 0, true);
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
-- and this session has moved past it. The verified context goes into the session's
-- sequences; `tenancy.context` (transaction-local) marks the transaction that entered it.
CREATE FUNCTION tenancy.enter(
  tenant uuid, principal uuid, counter bigint, mac text, check_status boolean DEFAULT false)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s bigint;
  t text := coalesce(tenant::text, '');
  p text := coalesce(principal::text, '');
  th text := replace(t, '-', '');
  ph text := replace(p, '-', '');
  v bigint;
BEGIN
  BEGIN
    s := currval('tenancy.session_seq');
  EXCEPTION WHEN object_not_in_prerequisite_state THEN
    RAISE EXCEPTION 'tenancy: this connection has no tenancy session (tenancy.open_session() was not called)'
      USING ERRCODE = 'insufficient_privilege';
  END;
  IF mac IS NULL OR counter IS NULL OR counter < 1 OR counter > 1000000000000000000
     OR mac <> tenancy.context_mac(format('enter|%s|%s|%s|%s', s, counter, t, p)) THEN
    RAISE EXCEPTION 'tenancy: tenant context refused: bad MAC'
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'only the application holding the context key can open a tenant context';
  END IF;
  IF counter <= currval('tenancy.context_seq') / 4 THEN
    RAISE EXCEPTION 'tenancy: tenant context refused: replayed counter'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  v := counter * 4 + (CASE WHEN tenant IS NULL THEN 0 ELSE 1 END)
                   + (CASE WHEN principal IS NULL THEN 0 ELSE 2 END);
  PERFORM setval('tenancy.context_seq', v, true),
          setval('tenancy.tenant_hi', CASE WHEN th = '' THEN 0 ELSE ('x' || substr(th, 1, 16))::bit(64)::bigint END, true),
          setval('tenancy.tenant_lo', CASE WHEN th = '' THEN 0 ELSE ('x' || substr(th, 17, 16))::bit(64)::bigint END, true),
          setval('tenancy.principal_hi', CASE WHEN ph = '' THEN 0 ELSE ('x' || substr(ph, 1, 16))::bit(64)::bigint END, true),
          setval('tenancy.principal_lo', CASE WHEN ph = '' THEN 0 ELSE ('x' || substr(ph, 17, 16))::bit(64)::bigint END, true);
  PERFORM set_config('tenancy.context', v::text, true);
  -- The tenant status check of the foundation schema, in the same statement.
  IF check_status AND tenant IS NOT NULL THEN
    PERFORM tenancy.require_active_tenant();
  END IF;
END
$$;
COMMENT ON FUNCTION tenancy.enter(uuid, uuid, bigint, text, boolean) IS
  'tenancy: reviewed: accepts a context only with a MAC over this session and a fresh counter';
REVOKE ALL ON FUNCTION tenancy.enter(uuid, uuid, bigint, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.enter(uuid, uuid, bigint, text, boolean) TO tenancy_app;

-- The verified tenant and principal (NULL when none is set):
--   * `tenancy.context` set: it must name the context `tenancy.enter()` recorded in this
--     session, or the statement fails (someone changed it inside the transaction).
--   * otherwise, for a session whose login is a superuser or not a member of `tenancy_app`
--     (the owner, the admin login: roles that could switch row level security off anyway),
--     the plain settings `tenancy.tenant_id`/`tenancy.principal_id` still work, for
--     maintenance, tests and the audit writer. For the application's login they are ignored.
-- They run in every policy; besides the fixed search_path every name is schema-qualified.
CREATE OR REPLACE FUNCTION tenancy.current_tenant() RETURNS uuid
  LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ctx pg_catalog.text := pg_catalog.current_setting('tenancy.context', true);
  v pg_catalog.int8;
BEGIN
  IF ctx IS NOT NULL AND ctx OPERATOR(pg_catalog.<>) '' THEN
    v := pg_catalog.currval('tenancy.context_seq');
    IF ctx OPERATOR(pg_catalog.<>) v::pg_catalog.text THEN
      RAISE EXCEPTION 'tenancy: the tenant context was changed inside the transaction'
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'tenancy.context is set by tenancy.enter(); SQL cannot set it';
    END IF;
    IF v OPERATOR(pg_catalog.%) 2 OPERATOR(pg_catalog.=) 0 THEN
      RETURN NULL;
    END IF;
    RETURN (pg_catalog.lpad(pg_catalog.to_hex(pg_catalog.currval('tenancy.tenant_hi')), 16, '0')
            OPERATOR(pg_catalog.||)
            pg_catalog.lpad(pg_catalog.to_hex(pg_catalog.currval('tenancy.tenant_lo')), 16, '0'))::pg_catalog.uuid;
  END IF;
  IF tenancy.trusted_session() THEN
    RETURN NULLIF(pg_catalog.current_setting('tenancy.tenant_id', true), '')::pg_catalog.uuid;
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION tenancy.current_principal() RETURNS uuid
  LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ctx pg_catalog.text := pg_catalog.current_setting('tenancy.context', true);
  v pg_catalog.int8;
BEGIN
  IF ctx IS NOT NULL AND ctx OPERATOR(pg_catalog.<>) '' THEN
    v := pg_catalog.currval('tenancy.context_seq');
    IF ctx OPERATOR(pg_catalog.<>) v::pg_catalog.text THEN
      RAISE EXCEPTION 'tenancy: the tenant context was changed inside the transaction'
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'tenancy.context is set by tenancy.enter(); SQL cannot set it';
    END IF;
    IF (v OPERATOR(pg_catalog./) 2) OPERATOR(pg_catalog.%) 2 OPERATOR(pg_catalog.=) 0 THEN
      RETURN NULL;
    END IF;
    RETURN (pg_catalog.lpad(pg_catalog.to_hex(pg_catalog.currval('tenancy.principal_hi')), 16, '0')
            OPERATOR(pg_catalog.||)
            pg_catalog.lpad(pg_catalog.to_hex(pg_catalog.currval('tenancy.principal_lo')), 16, '0'))::pg_catalog.uuid;
  END IF;
  IF tenancy.trusted_session() THEN
    RETURN NULLIF(pg_catalog.current_setting('tenancy.principal_id', true), '')::pg_catalog.uuid;
  END IF;
  RETURN NULL;
END
$$;

-- Whether this session's login could bypass row level security anyway, so that the plain
-- settings may stand in for an entered context.
CREATE FUNCTION tenancy.trusted_session() RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  RETURN (SELECT r.rolsuper OR NOT pg_has_role(r.oid, 'tenancy_app', 'MEMBER')
          FROM pg_roles r WHERE r.rolname = session_user);
REVOKE ALL ON FUNCTION tenancy.trusted_session() FROM PUBLIC;

REVOKE ALL ON FUNCTION tenancy.current_tenant(), tenancy.current_principal() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.current_tenant(), tenancy.current_principal()
  TO tenancy_app, tenancy_admin;
COMMENT ON FUNCTION tenancy.current_tenant() IS
  'tenancy: reviewed: returns the tenant tenancy.enter() verified, never a value SQL set';
COMMENT ON FUNCTION tenancy.current_principal() IS
  'tenancy: reviewed: returns the principal tenancy.enter() verified, never a value SQL set';

-- The policies read the context once per statement (an init plan) instead of once per row.
-- Not on a table that another table's policy reads (here `resource_acl`, `resources` and
-- `workspaces`): the init plan is a sub-query, and PostgreSQL refuses policies with
-- sub-queries that lead back to a table whose policies are being expanded ("infinite
-- recursion detected in policy"). There the function stays a plain call, which is still
-- evaluated once per index scan because it is STABLE.
DO $$
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
    qual := replace(replace(pol.qual, 'tenancy.current_tenant()', '(SELECT tenancy.current_tenant())'),
                    'tenancy.current_principal()', '(SELECT tenancy.current_principal())');
    chk := replace(replace(pol.chk, 'tenancy.current_tenant()', '(SELECT tenancy.current_tenant())'),
                   'tenancy.current_principal()', '(SELECT tenancy.current_principal())');
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

-- `tenancy.enter()` and the tenant status check run as the owner; the owner sees the current
-- tenant's row of `tenants` (and no other) like it does on every tenant table.
DO $$
BEGIN
  EXECUTE format('ALTER POLICY tenant_access ON public.tenants TO tenancy_app, %I', current_user);
END
$$;

-- Temporary tables shadow real ones of the same name for the rest of the session: on a
-- pooled connection a temporary `posts` created in one tenant's transaction would be read
-- and written by the next tenant's. The application role gets no TEMPORARY right.
DO $$
BEGIN
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), current_user);
END
$$;
