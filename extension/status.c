/*
 * tenancy_context: the tenant status check, and the answers it keeps.
 *
 * With check_status, enter() asks tenancy's status hook (tenancy.tenant_refusal) whether the
 * tenant may open a context. Asking it is a query: about as much work for the server as a
 * short transaction's own statement. The answers are therefore kept per tenant in the
 * backend, for as long as nothing they were read from can have changed unseen.
 * docs/adr/0004-native-tenant-context.md, point 6, has the design.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/functions.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "tenancy_context.h"

PG_FUNCTION_INFO_V1(tenancy_context_status_changed);
PG_FUNCTION_INFO_V1(tenancy_context_status_sources);

/*
 * The tenant's refusal, asked only when the caller wants the status checked. It runs as the
 * owner of tenancy.context_key, as tenancy.enter does, with a fixed search_path; the status
 * hook is the same one the SQL implementation calls.
 */
static const char *const REFUSAL_SQL = "SELECT r.refusal FROM tenancy.tenant_refusal($1) r";
static SPIPlanPtr refusal_plan = NULL;

/*
 * The status hook's answers, per tenant, while nothing they were read from has changed: a
 * tenant transaction then costs no query for its status. Kept only for a hook whose answer
 * depends on nothing but rows of ordinary tables that carry the status triggers
 * (tenancy_context.status_changed(), ENABLE ALWAYS, after INSERT, UPDATE, DELETE and
 * TRUNCATE): the triggers turn every change of those tables into an invalidation that each
 * backend takes in before its next transaction, and the callbacks below then drop every
 * answer. A hook that reads anything else (a non-built-in or non-immutable function, a view,
 * a table without the trigger) is asked in every transaction, as before.
 */
typedef struct StatusEntry
{
	pg_uuid_t	tenant;
	char		refusal[16];
} StatusEntry;

#define MAX_STATUS_SOURCES 16
#define MAX_STATUS_ENTRIES 65536

typedef enum StatusCacheable
{
	STATUS_UNKNOWN,
	STATUS_CACHEABLE,
	STATUS_NOT_CACHEABLE
} StatusCacheable;

static HTAB *status_cache = NULL;
static StatusCacheable status_cacheable = STATUS_UNKNOWN;
static Oid	status_sources[MAX_STATUS_SOURCES];
static int	status_source_count = 0;

/* Moves on with every invalidation, so that an answer read across one is not kept. */
static uint64 status_generation = 0;

static void
forget_status(void)
{
	status_generation++;
	status_cacheable = STATUS_UNKNOWN;
	status_source_count = 0;
	if (status_cache != NULL)
	{
		hash_destroy(status_cache);
		status_cache = NULL;
	}
}

static void
status_relation_changed(Datum arg, Oid relid)
{
	/*
	 * Until a decision names the hook's tables, any table may be one of them: an answer being
	 * read then must not be kept across any invalidation.
	 */
	if (relid == InvalidOid || status_cacheable == STATUS_UNKNOWN)
	{
		forget_status();
		return;
	}
	for (int i = 0; i < status_source_count; i++)
		if (status_sources[i] == relid)
		{
			forget_status();
			return;
		}
}

/* A replaced hook, or a function it calls, changes what it answers. */
static void
status_function_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	forget_status();
}

void
status_init(void)
{
	CacheRegisterRelcacheCallback(status_relation_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, status_function_changed, (Datum) 0);
}

/*
 * Pins search_path to pg_catalog for what follows, as tenancy.enter's SET clause does, so that
 * the hook's unqualified names cannot be shadowed; AtEOXact_GUC(true, <result>) restores it.
 */
static int
pin_search_path(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/* Whether foid is tenancy_context.status_changed(): a C function only a superuser can make. */
static bool
is_status_trigger_function(Oid foid)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(foid));
	bool		match = false;

	if (HeapTupleIsValid(tuple))
	{
		Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tuple);
		bool		isnull;
		Datum		src = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_prosrc, &isnull);
		Datum		bin;

		if (proc->prolang == ClanguageId && !isnull &&
			strcmp(TextDatumGetCString(src), "tenancy_context_status_changed") == 0)
		{
			bin = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_probin, &isnull);
			match = !isnull && strcmp(TextDatumGetCString(bin), "$libdir/tenancy_context") == 0;
		}
		ReleaseSysCache(tuple);
	}
	return match;
}

/*
 * Whether every change to the table reaches the status cache: an ordinary table whose status
 * triggers cover INSERT, UPDATE and DELETE row by row (a logical replication subscriber fires
 * only row triggers) and TRUNCATE per statement, after the change, without a column list or a
 * WHEN condition, enabled ALWAYS (so that session_replication_role cannot mute them).
 */
bool
has_status_trigger(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	bool		rows = false;
	bool		truncate = false;

	if (rel->rd_rel->relkind == RELKIND_RELATION && rel->trigdesc != NULL)
	{
		for (int i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			Trigger    *t = &rel->trigdesc->triggers[i];
			int16		type = t->tgtype;

			if (t->tgenabled != TRIGGER_FIRES_ALWAYS || !TRIGGER_FOR_AFTER(type) ||
				t->tgnattr != 0 || t->tgqual != NULL || !is_status_trigger_function(t->tgfoid))
				continue;
			if (TRIGGER_FOR_ROW(type))
				rows |= TRIGGER_FOR_INSERT(type) && TRIGGER_FOR_UPDATE(type) &&
					TRIGGER_FOR_DELETE(type);
			else
				truncate |= TRIGGER_FOR_TRUNCATE(type);
		}
	}
	relation_close(rel, AccessShareLock);
	return rows && truncate;
}

typedef struct HookSources
{
	Oid			rels[MAX_STATUS_SOURCES];
	int			count;
	bool		opaque;			/* reads something the cache cannot follow */
} HookSources;

static bool
opaque_function(Oid func_id, void *context)
{
	return func_id >= FirstNormalObjectId || func_volatile(func_id) != PROVOLATILE_IMMUTABLE;
}

static bool
collect_sources(Node *node, HookSources *sources)
{
	if (node == NULL || sources->opaque)
		return sources->opaque;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		ListCell   *lc;

		if (query->commandType != CMD_SELECT || query->rowMarks != NIL)
			sources->opaque = true;
		foreach(lc, query->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
			bool		seen = false;

			if (rte->rtekind != RTE_RELATION)
				continue;
			for (int i = 0; i < sources->count && !seen; i++)
				seen = sources->rels[i] == rte->relid;
			if (seen)
				continue;
			if (get_rel_relkind(rte->relid) != RELKIND_RELATION ||
				sources->count == MAX_STATUS_SOURCES)
			{
				sources->opaque = true;
				break;
			}
			sources->rels[sources->count++] = rte->relid;
		}
		if (sources->opaque)
			return true;
		return query_tree_walker(query, collect_sources, sources, 0);
	}
	if (check_functions_in_node(node, opaque_function, NULL) ||
		IsA(node, SQLValueFunction) || IsA(node, NextValueExpr))
	{
		sources->opaque = true;
		return true;
	}
	return expression_tree_walker(node, collect_sources, sources);
}

/*
 * What the status hook reads, from its own body as the planner would inline it: the tables it
 * reads, or opaque when its answer may depend on anything else (a function that is not a
 * built-in immutable one, such as now() or current_setting(); a view; anything but SELECT).
 * Runs in a memory context of its own, with the caller's search_path (pinned by the caller).
 */
static void
hook_sources(HookSources *sources)
{
	Oid			argtypes[1] = {UUIDOID};
	List	   *name = list_make2(makeString("tenancy"), makeString("tenant_refusal"));
	Oid			hook = LookupFuncName(name, 1, argtypes, true);
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "tenancy status hook",
												  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(scratch);
	HeapTuple	tuple;
	List	   *queries = NIL;

	sources->count = 0;
	sources->opaque = true;
	tuple = OidIsValid(hook) ? SearchSysCache1(PROCOID, ObjectIdGetDatum(hook)) : NULL;
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tuple);
		bool		isnull;
		Datum		body;

		if (proc->prolang == SQLlanguageId && !proc->prosecdef &&
			heap_attisnull(tuple, Anum_pg_proc_proconfig, NULL))
		{
			body = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_prosqlbody, &isnull);
			if (!isnull)
			{
				/* As inline_set_returning_function reads it: BEGIN ATOMIC's one list, or RETURN. */
				Node	   *n = stringToNode(TextDatumGetCString(body));
				List	   *stored = n == NULL ? NIL
					: IsA(n, List) ? linitial_node(List, castNode(List, n)) : list_make1(n);

				/*
				 * One SELECT, as the planner gets it: views expanded, row level security
				 * added. Anything else is not read further, and stays opaque.
				 */
				if (list_length(stored) == 1 && IsA(linitial(stored), Query) &&
					linitial_node(Query, stored)->commandType == CMD_SELECT)
				{
					Query	   *query = linitial_node(Query, stored);

					AcquireRewriteLocks(query, true, false);
					queries = QueryRewrite(query);
				}
			}
			else
			{
				char	   *src = TextDatumGetCString(SysCacheGetAttr(PROCOID, tuple,
																	   Anum_pg_proc_prosrc,
																	   &isnull));
				List	   *raw = pg_parse_query(src);

				/*
				 * Only a body of one SELECT is analysed: a later statement of a longer body
				 * may name what an earlier one creates, which analysis alone cannot see.
				 */
				if (list_length(raw) == 1 && IsA(linitial_node(RawStmt, raw)->stmt, SelectStmt))
					queries = pg_analyze_and_rewrite_withcb(linitial_node(RawStmt, raw), src,
															(ParserSetupHook) sql_fn_parser_setup,
															prepare_sql_fn_parse_info(tuple, NULL, InvalidOid),
															NULL);
			}
			if (queries != NIL)
			{
				sources->opaque = false;
				(void) collect_sources((Node *) queries, sources);
			}
		}
		ReleaseSysCache(tuple);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(scratch);
}

/* Whether the hook's answers may be kept, with what they come from (status_sources). */
static StatusCacheable
decide_cacheable(void)
{
	HookSources sources;

	hook_sources(&sources);
	if (sources.opaque)
		return STATUS_NOT_CACHEABLE;
	/* Watched either way: a trigger put on one of them later changes the decision. */
	memcpy(status_sources, sources.rels, sizeof(Oid) * sources.count);
	status_source_count = sources.count;
	for (int i = 0; i < sources.count; i++)
		if (!has_status_trigger(sources.rels[i]))
			return STATUS_NOT_CACHEABLE;
	return STATUS_CACHEABLE;
}

/* The kept answer for the tenant, when there is one. */
static bool
cached_refusal(const pg_uuid_t *tenant, char *refusal, size_t refusal_size)
{
	StatusEntry *entry;

	if (status_cacheable != STATUS_CACHEABLE || status_cache == NULL)
		return false;
	entry = hash_search(status_cache, tenant, HASH_FIND, NULL);
	if (entry == NULL)
		return false;
	strlcpy(refusal, entry->refusal, refusal_size);
	return true;
}

static void
keep_refusal(const pg_uuid_t *tenant, const char *refusal)
{
	StatusEntry *entry;

	if (status_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(StatusEntry);
		ctl.hcxt = TopMemoryContext;
		status_cache = hash_create("tenancy status cache", 256, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (hash_get_num_entries(status_cache) >= MAX_STATUS_ENTRIES)
		return;
	entry = hash_search(status_cache, tenant, HASH_ENTER, NULL);
	strlcpy(entry->refusal, refusal, sizeof(entry->refusal));
}

/*
 * Asks the status hook, through SPI, whether the tenant may open a context; *refusal is empty
 * when it may. Runs as the key's owner (set by the caller) with a fixed search_path.
 *
 * The answer is kept only when nothing it was read from can have changed unseen: the query
 * reads with a snapshot taken after the pending invalidations were taken in (the caller does,
 * so a change committed before is visible), and no invalidation arrived while it ran. In a transaction
 * that reads from one snapshot (REPEATABLE READ, SERIALIZABLE) the hook answers from that
 * snapshot, as it always did, and the answer is not kept.
 */
static void
ask_refusal(const pg_uuid_t *tenant, char *refusal, size_t refusal_size)
{
	int			save_nestlevel = pin_search_path();
	bool		fresh = !IsolationUsesXactSnapshot();
	uint64		generation = status_generation;
	Datum		values[1];
	int			ret;

	if (fresh)
		PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "tenancy_context: SPI_connect failed");
	if (refusal_plan == NULL)
	{
		Oid			types[1] = {UUIDOID};
		SPIPlanPtr	plan = SPI_prepare(REFUSAL_SQL, 1, types);

		if (plan == NULL)
			elog(ERROR, "tenancy_context: SPI_prepare failed: %s",
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "tenancy_context: SPI_keepplan failed");
		refusal_plan = plan;
	}
	values[0] = UUIDPGetDatum(tenant);
	ret = SPI_execute_plan(refusal_plan, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "tenancy_context: status check failed: %s", SPI_result_code_string(ret));
	refusal[0] = '\0';
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			text_to_cstring_buffer(DatumGetTextPP(d), refusal, refusal_size);
	}
	SPI_finish();
	if (fresh && status_cacheable == STATUS_UNKNOWN && generation == status_generation)
	{
		StatusCacheable decided = decide_cacheable();

		if (generation == status_generation)
			status_cacheable = decided;
	}
	if (fresh)
		PopActiveSnapshot();
	AtEOXact_GUC(true, save_nestlevel);
	if (fresh && status_cacheable == STATUS_CACHEABLE && generation == status_generation)
		keep_refusal(tenant, refusal);
}

void
tenant_refusal(const pg_uuid_t *tenant, char *refusal, size_t refusal_size)
{
	/*
	 * A change committed before this transaction began must be seen, by the kept answers and
	 * by a new read alike: take in what is pending first.
	 */
	AcceptInvalidationMessages();
	if (!cached_refusal(tenant, refusal, refusal_size))
		ask_refusal(tenant, refusal, refusal_size);
}

/*
 * The status trigger: a change to a table the status hook reads becomes an invalidation of
 * that table, which every backend takes in before its next transaction; their callbacks then
 * drop the answers they kept.
 */
Datum
tenancy_context_status_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("tenancy_context.status_changed() is a trigger function")));
	CacheInvalidateRelcache(((TriggerData *) fcinfo->context)->tg_relation);
	return PointerGetDatum(NULL);
}

/*
 * The tables the status hook reads, where the status trigger belongs; NULL when the hook's
 * answer may depend on anything else, so that its answers are never kept.
 */
Datum
tenancy_context_status_sources(PG_FUNCTION_ARGS)
{
	HookSources sources;
	Datum		elems[MAX_STATUS_SOURCES];
	int			save_nestlevel = pin_search_path();

	hook_sources(&sources);
	AtEOXact_GUC(true, save_nestlevel);
	if (sources.opaque)
		PG_RETURN_NULL();
	for (int i = 0; i < sources.count; i++)
		elems[i] = ObjectIdGetDatum(sources.rels[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, sources.count, REGCLASSOID, sizeof(Oid), true,
										  TYPALIGN_INT));
}
