-- tenancy 4/4: the append-only, hash-chained audit log.
--
-- Each tenant has its own chain: `seq` counts 1, 2, 3... and
--   row_hash = sha256(prev_hash || canonical row), prev_hash = previous row's row_hash
-- (32 zero bytes for the first). The canonical row is a JSON array of the columns, written
-- by PostgreSQL itself (jsonb text is normalised, timestamps in UTC), so it does not depend
-- on client settings. A transaction-scoped advisory lock per tenant serialises appends to one
-- chain so concurrent inserts never fork it; the UNIQUE (tenant_id, seq) key turns any fork
-- that could still happen (REPEATABLE READ snapshots) into an error instead.

CREATE TABLE audit_log (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
  seq bigint NOT NULL,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  actor_principal_id uuid,
  action text NOT NULL CONSTRAINT audit_log_action_format CHECK (action ~ '^[a-z_]+(\.[a-z_]+)*$'),
  workspace_id uuid,
  resource_id uuid,
  details jsonb NOT NULL DEFAULT '{}',
  prev_hash bytea NOT NULL,
  row_hash bytea NOT NULL,
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT audit_log_tenant_seq_key UNIQUE (tenant_id, seq)
);
-- No foreign keys on actor, workspace or resource: the log outlives what it describes.
CREATE INDEX audit_log_resource_idx ON audit_log (tenant_id, resource_id);
CREATE INDEX audit_log_occurred_idx ON audit_log (tenant_id, occurred_at);

CREATE FUNCTION tenancy.audit_row_hash(prev bytea, r audit_log) RETURNS bytea
  LANGUAGE sql STABLE
  RETURN sha256(prev || convert_to(jsonb_build_array(
    r.tenant_id, r.id, r.seq,
    to_char(r.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    r.actor_principal_id, r.action, r.workspace_id, r.resource_id, r.details
  )::text, 'UTF8'));

CREATE FUNCTION tenancy.audit_log_chain() RETURNS trigger
  LANGUAGE plpgsql
AS $$
DECLARE
  last record;
BEGIN
  PERFORM pg_advisory_xact_lock(20261122, hashtext(NEW.tenant_id::text));
  -- A fresh snapshot (READ COMMITTED, volatile function) sees the row the lock holder
  -- committed before releasing the lock.
  SELECT a.seq, a.row_hash INTO last
  FROM public.audit_log a
  WHERE a.tenant_id = NEW.tenant_id
  ORDER BY a.seq DESC
  LIMIT 1;
  NEW.seq := coalesce(last.seq, 0) + 1;
  NEW.prev_hash := coalesce(last.row_hash, decode(repeat('00', 32), 'hex'));
  NEW.row_hash := tenancy.audit_row_hash(NEW.prev_hash, NEW);
  RETURN NEW;
END
$$;

CREATE FUNCTION tenancy.audit_log_append_only() RETURNS trigger
  LANGUAGE plpgsql
AS $$
BEGIN
  -- A hard purge of a whole tenant (control plane, admin role) cascades here; it names the
  -- tenant it purges in a transaction-local setting.
  IF TG_OP = 'DELETE' THEN
    IF current_setting('tenancy.purge_tenant', true) = OLD.tenant_id::text THEN
      RETURN OLD;
    END IF;
  END IF;
  RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
  FOR EACH ROW EXECUTE FUNCTION tenancy.audit_log_chain();
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION tenancy.audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION tenancy.audit_log_append_only();
-- ALWAYS: also fire under session_replication_role = replica.
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_chain;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_update_delete;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;

-- The id of the first entry of `tenant`'s chain that does not verify (wrong sequence number,
-- prev_hash not the previous row's hash, or row_hash not the hash of the row), or NULL when
-- the whole chain verifies. Runs with the caller's rights: `tenancy_app` can verify only its
-- own tenant (another tenant's chain looks empty), the admin role any tenant.
CREATE FUNCTION tenancy.verify_audit_chain(tenant uuid) RETURNS uuid
  LANGUAGE plpgsql STABLE
AS $$
DECLARE
  r public.audit_log;
  prev bytea := decode(repeat('00', 32), 'hex');
  expected bigint := 1;
BEGIN
  FOR r IN SELECT * FROM public.audit_log WHERE tenant_id = tenant ORDER BY seq LOOP
    IF r.seq <> expected
       OR r.prev_hash IS DISTINCT FROM prev
       OR r.row_hash IS DISTINCT FROM tenancy.audit_row_hash(r.prev_hash, r) THEN
      RETURN r.id;
    END IF;
    prev := r.row_hash;
    expected := expected + 1;
  END LOOP;
  RETURN NULL;
END
$$;
GRANT EXECUTE ON FUNCTION tenancy.verify_audit_chain(uuid) TO tenancy_app, tenancy_admin;

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
-- Insert and select only: with no UPDATE or DELETE policy, even a future grant of those
-- privileges would match no row.
CREATE POLICY tenant_access ON audit_log FOR SELECT TO tenancy_app, CURRENT_USER
  USING (tenant_id = tenancy.current_tenant());
CREATE POLICY tenant_append ON audit_log FOR INSERT TO tenancy_app, CURRENT_USER
  WITH CHECK (tenant_id = tenancy.current_tenant());
CREATE POLICY tenant_isolation ON audit_log AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
GRANT SELECT, INSERT ON audit_log TO tenancy_app;
GRANT SELECT, INSERT, DELETE ON audit_log TO tenancy_admin;
