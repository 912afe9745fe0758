-- tenancy_context 1.5: enter_block(entry) is enter(entry) as a function, for a transaction
-- block that is already open. A pipeline (tenancy-async's pipelined opening) sends BEGIN as
-- text and then SELECT WHERE tenancy_context.enter_block($1) IS NULL as a prepared statement,
-- which the server runs for less than CALL enter($1): a CALL builds an executor state and
-- prepares its arguments again on every call. A refused entry aborts the block, so the
-- statements pipelined behind it are refused too. tenancy uses it wherever it finds it;
-- `ALTER EXTENSION tenancy_context UPDATE` (a superuser) brings it to an older database.
\echo Use "ALTER EXTENSION tenancy_context UPDATE TO '1.5'" to load this file. \quit

CREATE FUNCTION enter_block(entry text) RETURNS void
  AS 'MODULE_PATHNAME', 'tenancy_context_enter_block'
  LANGUAGE C VOLATILE PARALLEL UNSAFE;
