COMMENT ON INDEX api_keys_prefix_idx IS NULL;
