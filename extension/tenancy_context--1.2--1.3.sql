-- tenancy_context 1.3: begin(entry, read_only) opens the transaction block and enters its
-- context in one statement, with the checks of enter(entry). A client prepares it once per
-- connection and then only binds and runs it, where BEGIN and CALL enter(..) are parsed and
-- analysed in every transaction. tenancy uses it wherever it finds it, for transactions at the
-- server's default isolation level; `ALTER EXTENSION tenancy_context UPDATE` (a superuser)
-- brings it to a database created with an older version.
\echo Use "ALTER EXTENSION tenancy_context UPDATE TO '1.3'" to load this file. \quit

CREATE FUNCTION begin(entry text, read_only boolean) RETURNS void
  AS 'MODULE_PATHNAME', 'tenancy_context_begin'
  LANGUAGE C VOLATILE PARALLEL UNSAFE;
