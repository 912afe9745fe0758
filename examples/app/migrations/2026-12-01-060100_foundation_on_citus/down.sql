-- Back to the audit chain read through `audit_log` itself. On Citus the tables stay
-- distributed (undistributing is `undistribute_table`, a decision of its own) and the
-- resource rules dropped there are not recreated: run this on one node only.
DROP FUNCTION tenancy.distribute_foundation();

CREATE OR REPLACE FUNCTION tenancy.audit_log_chain() RETURNS trigger
  LANGUAGE plpgsql
AS $$
DECLARE
  last record;
BEGIN
  PERFORM pg_advisory_xact_lock(20261122, hashtext(NEW.tenant_id::text));
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

CREATE OR REPLACE FUNCTION tenancy.audit_row_hash(prev bytea, r audit_log) RETURNS bytea
  LANGUAGE sql STABLE
  RETURN sha256(prev || convert_to(jsonb_build_array(
    r.tenant_id, r.id, r.seq,
    to_char(r.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    r.actor_principal_id, r.action, r.workspace_id, r.resource_id, r.details
  )::text, 'UTF8'));

DROP FUNCTION tenancy.audit_hash(bytea, jsonb);
