-- tenancy_context 1.1: the tenant status check keeps the status hook's answers while the
-- tables it reads stay unchanged. `ALTER EXTENSION tenancy_context UPDATE` (a superuser),
-- then `SELECT tenancy.enable_native_context()` again (the tables' owner) puts the trigger
-- below on those tables.
\echo Use "ALTER EXTENSION tenancy_context UPDATE TO '1.1'" to load this file. \quit

-- The status trigger: a change to a table the status hook reads makes every backend drop the
-- answers it kept. Row level after INSERT, UPDATE and DELETE, statement level after TRUNCATE,
-- both enabled ALWAYS; a table without them (or with them in another form) keeps the hook
-- asked in every transaction.
CREATE FUNCTION status_changed() RETURNS trigger
  AS 'MODULE_PATHNAME', 'tenancy_context_status_changed'
  LANGUAGE C;

-- The tables the status hook (tenancy.tenant_refusal) reads, from its body; NULL when its
-- answer may depend on something else (a function that is not a built-in immutable one, a
-- view), so that it is asked in every transaction.
CREATE FUNCTION status_sources() RETURNS regclass[]
  AS 'MODULE_PATHNAME', 'tenancy_context_status_sources'
  LANGUAGE C STABLE;
