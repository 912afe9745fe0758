DROP SCHEMA tenancy CASCADE;

-- Drop the roles only when this migration created them (comment marker) and no other
-- database of the cluster still grants them anything; pre-existing roles are kept as they
-- were. Their privileges in this database went with the objects dropped above.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['tenancy_app', 'tenancy_admin'] LOOP
    IF (SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = r)
       = 'tenancy: created by migrations' THEN
      BEGIN
        EXECUTE format('DROP ROLE %I', r);
      EXCEPTION WHEN dependent_objects_still_exist THEN
        RAISE NOTICE 'role % is still used by another database of this cluster; kept', r;
      END;
    END IF;
  END LOOP;
END
$$;
