-- tenancy_context 1.4: the readers answer in parallel workers too. Before a parallel plan
-- starts, the leader writes its readers' answers into the setting
-- tenancy_context.worker_context, which PostgreSQL copies to the workers and which only a
-- superuser may set; a worker's readers answer from it alone. So current_tenant() and
-- current_principal() are PARALLEL SAFE: a policy may call them without keeping its table's
-- scans out of parallel plans, and tenancy's migrations then let the policies call them
-- directly instead of through an init plan. `ALTER EXTENSION tenancy_context UPDATE` (a
-- superuser), then, as the tables' owner, `SELECT tenancy.enable_native_context()`.
\echo Use "ALTER EXTENSION tenancy_context UPDATE TO '1.4'" to load this file. \quit

ALTER FUNCTION current_tenant() PARALLEL SAFE;
ALTER FUNCTION current_principal() PARALLEL SAFE;
