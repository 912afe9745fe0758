-- The prefix index of api_keys serves the one lookup made before the tenant is known: an API
-- key names its tenant only once it is found by its prefix. `tenancy check` reports an index
-- that does not lead with the tenant column (TEN031) unless its comment says it was reviewed,
-- as this one was; a freshly migrated foundation then checks without a warning.
COMMENT ON INDEX api_keys_prefix_idx IS
  'tenancy: reviewed: API keys are looked up by their prefix before the tenant is known';
