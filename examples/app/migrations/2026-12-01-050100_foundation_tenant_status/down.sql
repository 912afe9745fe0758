CREATE OR REPLACE FUNCTION tenancy.tenant_refusal(tenant uuid) RETURNS TABLE (refusal text)
  LANGUAGE sql STABLE
AS $$
  SELECT NULL::text WHERE false
$$;
