/*
 * tenancy_context: tenancy's sealed tenant context, kept in the backend's own memory.
 *
 * tenancy's policies compare a row's tenant with the tenant of the transaction's context.
 * Without this extension that context lives in a setting, which any SQL in the transaction
 * can change, so every statement verifies it again through a PL/pgSQL function
 * (docs/adr/0002-sealed-tenant-context.md). Here the verified context is a static variable
 * of the backend: SQL can reach it only through enter(), which checks the same kind of MAC,
 * and the policies read it with a plain C call. docs/adr/0004-native-tenant-context.md has
 * the design and what it changes.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#if PG_VERSION_NUM < 160000
#include "utils/queryjumble.h"
#endif
#include "common/hashfn.h"
#include "parser/scansup.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "tenancy_context.h"

/*
 * SHA-256's own state functions rather than EVP: a state is a plain struct, so starting from
 * a precomputed one is a copy, where EVP_MD_CTX_copy_ex frees, allocates and wipes a provider
 * context twice per MAC. OpenSSL 3 marks them deprecated; the server's pg_config.h sets
 * OPENSSL_API_COMPAT to the level the server itself builds against, which keeps them.
 */
#include <openssl/sha.h>

PG_MODULE_MAGIC;

#if PG_VERSION_NUM >= 170000
#define CURRENT_LXID (MyProc->vxid.lxid)
#else
#define CURRENT_LXID (MyProc->lxid)
#endif

#define KEY_LEN 32
#define MAC_LEN 32
#define HMAC_BLOCK 64
#define UUID_TEXT_LEN 36

/* The context enter() accepted, valid only in the transaction it was entered in. */
typedef struct ContextState
{
	LocalTransactionId lxid;
	bool		has_tenant;
	pg_uuid_t	tenant;
	bool		has_principal;
	pg_uuid_t	principal;
} ContextState;

static ContextState context = {InvalidLocalTransactionId};

/*
 * The session number (tenancy.open_session()) the counter belongs to, and the last counter
 * accepted for it: a MAC observed earlier in this session is refused once the counter moved.
 */
static bool have_session = false;
static int64 counter_session = 0;
static int64 last_counter = 0;

/*
 * tenancy_context.allow_explain: whether tenancy connections may run EXPLAIN. Off, EXPLAIN is
 * refused there: the planner estimates rows from statistics sampled over every tenant's rows
 * (under row level security it still uses them for LEAKPROOF operators, text and uuid
 * comparison among them), so the estimates of range conditions rebuild another tenant's
 * frequent values and ids; with ANALYZE, a scan's "Rows Removed by Filter" counts the rows of
 * other tenants it read. Only a superuser sets it (for a login kept for diagnosis).
 */
static bool allow_explain = false;

/*
 * HMAC-SHA256 with the SHA-256 states after the inner and outer padded key precomputed, for
 * the key read last: each enter() then hashes only its message. The key itself is read in
 * every call, so a replaced key takes effect at once; only its derived states are reused
 * while it stays the same.
 */
static uint8 hmac_key[KEY_LEN];
static bool hmac_ready = false;
static SHA256_CTX hmac_inner;
static SHA256_CTX hmac_outer;

void		_PG_init(void);

static ProcessUtility_hook_type previous_utility_hook = NULL;
static ExecutorStart_hook_type previous_executor_start = NULL;

/*
 * Set while a BEGIN that carries an entry runs, and left set when its entry is refused
 * (extension 1.7). A refused entry fails that BEGIN, and PostgreSQL then leaves no
 * transaction open: a statement the client sent right behind it in the same write (a
 * pipelined opening) would run on its own, committed as it ends, without the context and
 * outside the transaction it was written for. With this set, the next statement of the
 * session fails instead (refuse_after_refused_entry) and the mark is gone; the ROLLBACK that
 * tenancy sends after a refused opening only clears it.
 */
static bool entry_refused = false;

static void
refuse_after_refused_entry(void)
{
	entry_refused = false;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
			 errmsg("tenancy: this statement follows a BEGIN whose tenant context was refused, and did not run"),
			 errhint("the BEGIN's error says why; roll back and open the transaction again")));
}

/*
 * What the readers answer in a parallel worker (extension 1.4). A worker is a process of its
 * own: it has none of the leader's context, and it cannot ask the leader. What PostgreSQL does
 * hand over is the leader's settings, so the leader writes its readers' answers into this
 * setting just before a parallel plan starts, and the workers' readers answer from it and
 * from nothing else. SQL cannot write it: only a superuser may set it (and a superuser
 * bypasses row level security anyway), a setting file may not, and whatever was there is
 * overwritten by the leader right before its workers copy it; once the plan runs, PostgreSQL
 * refuses every change of a setting until the workers are gone. The value is
 * WORKER_FORMAT, then the tenant and the principal, each a UUID or empty.
 */
#define WORKER_SETTING "tenancy_context.worker_context"
#define WORKER_FORMAT "1:"
static char *worker_context = NULL;

static void key_relation_changed(Datum arg, Oid relid);

PG_FUNCTION_INFO_V1(tenancy_context_enter);
PG_FUNCTION_INFO_V1(tenancy_context_enter_packed);
PG_FUNCTION_INFO_V1(tenancy_context_begin);
PG_FUNCTION_INFO_V1(tenancy_context_enter_block);
PG_FUNCTION_INFO_V1(tenancy_context_entered);
PG_FUNCTION_INFO_V1(tenancy_context_tenant);
PG_FUNCTION_INFO_V1(tenancy_context_principal);
PG_FUNCTION_INFO_V1(tenancy_context_current_tenant);
PG_FUNCTION_INFO_V1(tenancy_context_current_principal);

/*
 * The session guard. A pooled connection must carry nothing from one tenant's transaction
 * into the next checkout. The SQL context resets the session after every transaction
 * (RESET ALL, RESET ROLE, DISCARD TEMP: five statements); here, once a connection has
 * entered a native context, no transaction on it may commit a session-level change of a
 * setting (SET, SET SESSION, set_config(.., false), RESET, SET ROLE) or a temporary schema:
 * the commit fails, and the rollback undoes the change. Session-level advisory locks, which
 * no rollback undoes, are released when the transaction ends. That holds for every later
 * transaction of the session, including ones that raw SQL opens after a COMMIT of its own.
 */
static void
refuse_session_change(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("tenancy: a transaction on a tenancy connection may not change %s for the rest of the session", what),
			 errhint("change settings for the transaction only (SET LOCAL, set_config(.., true)); the transaction was rolled back")));
}

/*
 * Whether any setting was changed in the transaction (has a stack entry), asked only of a
 * transaction that may have changed one (settings_watch.c). One load per setting and no
 * branch, so that the loads overlap; only when one was does guard_session look at each
 * setting by name.
 */
static bool
any_setting_changed(struct config_generic **vars, int count)
{
	uintptr_t	changed = 0;

	for (int i = 0; i < count; i++)
		changed |= (uintptr_t) vars[i]->stack;
	return changed != 0;
}

/* Refuses the transaction if a setting it changed would outlive it. */
static void
refuse_changed_settings(struct config_generic **vars, int count)
{
	for (int i = 0; i < count; i++)
	{
		/*
		 * The transaction characteristics are set as session values by SET TRANSACTION, but
		 * every transaction starts from their defaults again: nothing of them carries over.
		 */
		if (vars[i]->stack == NULL ||
			strcmp(vars[i]->name, "transaction_isolation") == 0 ||
			strcmp(vars[i]->name, "transaction_read_only") == 0 ||
			strcmp(vars[i]->name, "transaction_deferrable") == 0)
			continue;
		for (GucStack *entry = vars[i]->stack; entry != NULL; entry = entry->prev)
		{
			if (entry->state == GUC_SET || entry->state == GUC_SET_LOCAL)
			{
				char	   *what = psprintf("the setting \"%s\"", vars[i]->name);

				refuse_session_change(what);
			}
		}
	}
}

static void
guard_session(XactEvent event, void *arg)
{
	struct config_generic **vars;
	int			count;
	Oid			temp_namespace;
	Oid			temp_toast_namespace;

	/* The watch starts again with each transaction, session or not. */
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE)
		settings_watch_reset();
	if (!have_session)
		return;

	/*
	 * A session-level advisory lock (pg_advisory_lock) outlives the transaction, committed or
	 * rolled back, and would be held on behalf of whichever tenant's transaction gets the
	 * connection next. Nothing tenancy runs takes one; whatever SQL in the transaction took is
	 * let go when the transaction ends, either way. pg_advisory_xact_lock is the form for a
	 * transaction.
	 */
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_ABORT)
		LockReleaseSession(USER_LOCKMETHOD);

	/*
	 * currval() and lastval() answer from the session's sequence state: the value this
	 * session's last nextval() drew, in whichever tenant's transaction it did. A tenant's
	 * transaction would read the id the previous tenant's insert took on this connection.
	 * Forgotten once the transaction ended, as DISCARD SEQUENCES would (which is refused
	 * here). The extension's own session number is kept apart (session_number), read once.
	 */
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		ResetSequenceCaches();
	if (event != XACT_EVENT_PRE_COMMIT && event != XACT_EVENT_PRE_PREPARE)
		return;
	if (settings_may_have_changed())
	{
#if PG_VERSION_NUM >= 160000
		vars = get_guc_variables(&count);
#else
		vars = get_guc_variables();
		count = GetNumConfigOptions();
#endif
		if (any_setting_changed(vars, count))
			refuse_changed_settings(vars, count);
	}
	GetTempNamespaceState(&temp_namespace, &temp_toast_namespace);
	if (OidIsValid(temp_namespace))
		refuse_session_change("its temporary schema (temporary tables)");
}

static void enter_packed_text(const char *s, int len);
static void refuse_malformed(void);

#define BEGIN_MARK "/*tenancy_context.entry:"
#define BEGIN_MARK_LEN (sizeof(BEGIN_MARK) - 1)

/*
 * The entry a BEGIN carries in a comment of its own text (extension 1.6): the statement, then
 * a comment that opens with BEGIN_MARK, the entry and the comment's end. One text statement
 * then opens the transaction and enters its context, which costs the server about what a bare
 * BEGIN costs plus the checks, where a prepared statement calling begin() also pays for a
 * portal and an executor. The mark is looked for in the statement's own part of the message
 * only; *before is set to the end of the statement's text in front of the comment.
 * Returns whether there is one.
 */
static bool
begin_entry(PlannedStmt *pstmt, const char *queryString, const char **entry, int *len,
			const char **before)
{
	TransactionStmt *stmt;
	const char *start;
	const char *end;

	if (!IsA(pstmt->utilityStmt, TransactionStmt) || queryString == NULL ||
		pstmt->stmt_location < 0)
		return false;
	stmt = (TransactionStmt *) pstmt->utilityStmt;
	if (stmt->kind != TRANS_STMT_BEGIN && stmt->kind != TRANS_STMT_START)
		return false;
	start = queryString + pstmt->stmt_location;
	end = pstmt->stmt_len > 0 ? start + pstmt->stmt_len : start + strlen(start);
	for (const char *p = start; p + BEGIN_MARK_LEN <= end; p++)
	{
		if (*p != '/' || memcmp(p, BEGIN_MARK, BEGIN_MARK_LEN) != 0)
			continue;
		*before = p;
		while (*before > start && scanner_isspace((*before)[-1]))
			(*before)--;
		p += BEGIN_MARK_LEN;
		for (const char *q = p; q + 1 < end; q++)
		{
			if (q[0] == '*' && q[1] == '/')
			{
				*entry = p;
				*len = (int) (q - p);
				return true;
			}
		}
		entry_refused = true;
		refuse_malformed();
	}
	return false;
}

/*
 * The statement as the hooks after this one and the server see it: without the comment, so
 * that pg_stat_statements counts every such BEGIN as the one statement it is instead of adding
 * an entry for each (it keys a utility statement by its text before PostgreSQL 16, and
 * records the text). The entry itself is no secret (a MAC for this session's next counter,
 * void once used), but thousands of distinct statements would crowd out the others.
 */
static PlannedStmt *
without_entry(PlannedStmt *pstmt, const char *queryString, const char *before)
{
	PlannedStmt *stripped = palloc(sizeof(PlannedStmt));

	memcpy(stripped, pstmt, sizeof(PlannedStmt));
	stripped->stmt_len = (int) (before - (queryString + pstmt->stmt_location));
#if PG_VERSION_NUM < 160000
	if (stripped->queryId != UINT64CONST(0))
	{
		/* What PostgreSQL 14 and 15 compute for a utility statement: a hash of its text. */
		int			location = stripped->stmt_location;
		int			len = stripped->stmt_len;
		const char *text = CleanQuerytext(queryString, &location, &len);
		uint64		id = DatumGetUInt64(hash_any_extended((const unsigned char *) text, len, 0));

		stripped->queryId = id != UINT64CONST(0) ? id : UINT64CONST(1);
	}
#endif
	return stripped;
}

/*
 * The other session state a statement can leave behind for the next transaction on a pooled
 * connection, refused outright on a tenancy connection: prepared statements made or dropped
 * with SQL (they share their names with the driver's own, so DEALLOCATE and PREPARE of one of
 * those would change what a later transaction runs), LISTEN, cursors WITH HOLD, DISCARD, and
 * prepared transactions (two-phase commit), which outlive the session itself.
 * And what outlives the connection itself: any role may change its own password and its
 * own defaults (ALTER ROLE CURRENT_USER SET search_path ..), which every later connection of
 * the login, whichever tenant it serves, logs in with or starts from.
 *
 * Before all of that, a BEGIN that carries an entry (begin_entry) is run, and its entry checked.
 */
static void
guard_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			  ProcessUtilityContext context, ParamListInfo params,
			  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	const char *entry;
	int			entry_len;
	const char *before;

	settings_watch_utility(pstmt->utilityStmt);
	if (entry_refused)
	{
		if (!IsA(pstmt->utilityStmt, TransactionStmt) ||
			((TransactionStmt *) pstmt->utilityStmt)->kind != TRANS_STMT_ROLLBACK)
			refuse_after_refused_entry();
		entry_refused = false;
	}
	if (begin_entry(pstmt, queryString, &entry, &entry_len, &before))
	{
		PlannedStmt *stripped = without_entry(pstmt, queryString, before);

		/*
		 * BEGIN itself first, so that its isolation level and access mode are in place
		 * before the checks take the transaction's first snapshot. A refused entry fails the
		 * statement, which aborts the block it just opened: no transaction is left behind.
		 * Any failure marks the session (entry_refused), but only once it failed: the checks
		 * themselves run statements (the tenant's status), which the mark would refuse.
		 */
		PG_TRY();
		{
			if (IsTransactionBlock() || IsSubTransaction())
				ereport(ERROR,
						(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
						 errmsg("tenancy: a BEGIN that carries a tenant context opens the transaction: it cannot run inside one")));
			if (previous_utility_hook != NULL)
				previous_utility_hook(stripped, queryString, readOnlyTree, context, params,
									  queryEnv, dest, qc);
			else
				standard_ProcessUtility(stripped, queryString, readOnlyTree, context, params,
										queryEnv, dest, qc);
			enter_packed_text(entry, entry_len);

			/*
			 * A read-only transaction stays read only: PostgreSQL refuses SET TRANSACTION
			 * READ WRITE once the transaction has a snapshot, which the checks do not always
			 * need to take (the key and the tenant's status may be kept), so take it here.
			 */
			if (XactReadOnly)
				(void) GetTransactionSnapshot();
		}
		PG_CATCH();
		{
			entry_refused = true;
			PG_RE_THROW();
		}
		PG_END_TRY();
		return;
	}
	if (have_session)
	{
		Node	   *stmt = pstmt->utilityStmt;
		const char *what = NULL;

		if (IsA(stmt, ExplainStmt) && !allow_explain)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("tenancy: EXPLAIN is not allowed on a tenancy connection: its estimates come from statistics over every tenant's rows"),
					 errhint("explain as the tables' owner, or on a login a superuser gave tenancy_context.allow_explain = on for diagnosis")));

		/*
		 * The application role may lock any table it may update, and a lock that conflicts
		 * with reads or writes holds up every tenant's statements on the table for as long as
		 * one tenant's transaction lasts. The row locks tenancy's statements take, and
		 * SHARE UPDATE EXCLUSIVE (which only DDL and VACUUM wait for), stay allowed.
		 */
		if (IsA(stmt, LockStmt) && ((LockStmt *) stmt)->mode >= ShareLock)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("tenancy: LOCK TABLE in %s mode is not allowed on a tenancy connection: it holds up every tenant's statements on the table",
							GetLockmodeName(DEFAULT_LOCKMETHOD, ((LockStmt *) stmt)->mode)),
					 errhint("lock the rows you change (SELECT .. FOR UPDATE), or take an advisory lock")));

		/*
		 * The statements prepared on a tenancy connection are the driver's, prepared for
		 * tenant transactions with the tenant as a parameter: EXECUTE of one by name, with
		 * another tenant's id, runs what the text naming it does not show.
		 */
		if (IsA(stmt, ExecuteStmt))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("tenancy: EXECUTE of a prepared statement is not allowed on a tenancy connection: the connection's prepared statements are its driver's"),
					 errhint("send the statement itself")));

		switch (nodeTag(stmt))
		{
			case T_PrepareStmt:
				what = "PREPARE";
				break;
			case T_DeallocateStmt:
				what = "DEALLOCATE";
				break;
			case T_ListenStmt:
				what = "LISTEN";
				break;
			case T_DiscardStmt:
				what = "DISCARD";
				break;
			case T_TransactionStmt:

				/*
				 * A prepared transaction outlives the session that prepared it, with its
				 * locks, and any session of the same login may commit or roll it back: one
				 * tenant's SQL could leave work behind that another tenant's SQL finishes
				 * or discards. tenancy never prepares one.
				 */
				switch (((TransactionStmt *) stmt)->kind)
				{
					case TRANS_STMT_PREPARE:
						what = "PREPARE TRANSACTION";
						break;
					case TRANS_STMT_COMMIT_PREPARED:
						what = "COMMIT PREPARED";
						break;
					case TRANS_STMT_ROLLBACK_PREPARED:
						what = "ROLLBACK PREPARED";
						break;
					default:
						break;
				}
				break;
			case T_DeclareCursorStmt:
				if (((DeclareCursorStmt *) stmt)->options & CURSOR_OPT_HOLD)
					what = "DECLARE .. WITH HOLD";
				break;
			case T_AlterRoleStmt:
				what = "ALTER ROLE";
				break;
			case T_AlterRoleSetStmt:
				what = "ALTER ROLE .. SET";
				break;
			case T_AlterDatabaseSetStmt:
				what = "ALTER DATABASE .. SET";
				break;
			default:
				break;
		}
		if (what != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("tenancy: %s is not allowed on a tenancy connection: it outlives the transaction", what),
					 errhint("the next transaction on a pooled connection, and every later connection of the login, may belong to another tenant")));
	}
	if (previous_utility_hook != NULL)
		previous_utility_hook(pstmt, queryString, readOnlyTree, context, params, queryEnv,
							  dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv,
								dest, qc);
}

static void executor_start(QueryDesc *query, int eflags);

static planner_hook_type previous_planner = NULL;

/*
 * Whether an expression holds an ARRAY[..] constructor of arrays over a row's columns. The
 * planner costs such a constructor, CASE and IS NULL at nothing and counts them as leakproof
 * (they call no function), so a filter built of them is tested on each row of a scan before
 * row level security's policy. Yet a constructor of arrays fails when the arrays differ in
 * size: ARRAY[ARRAY[1], CASE WHEN <condition on the row> THEN ARRAY[1, 2] ELSE ARRAY[3] END]
 * fails on exactly the rows, another tenant's included, that meet the condition.
 */
static bool
row_array_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, ArrayExpr) && ((ArrayExpr *) node)->multidims &&
		contain_var_clause(node))
		return true;
	return expression_tree_walker(node, row_array_walker, context);
}

/*
 * Refuses a plan with such a constructor in the filter of any of its nodes (a scan's filter
 * runs on rows the policy has not passed yet; the other nodes' are refused alike, as what
 * runs where is the planner's choice).
 */
static void
refuse_row_arrays(Plan *plan)
{
	ListCell   *lc;
	List	   *children = NIL;

	if (plan == NULL)
		return;
	check_stack_depth();
	if (row_array_walker((Node *) plan->qual, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("tenancy: an ARRAY[..] constructor of arrays over a row's columns is not allowed in a filter"),
				 errdetail("PostgreSQL tests it on rows before row level security's policy, and it fails on some of them: its error would tell which rows of other tenants meet a condition"),
				 errhint("bind the array as a parameter, or build it in the select list")));
	refuse_row_arrays(plan->lefttree);
	refuse_row_arrays(plan->righttree);
	switch (nodeTag(plan))
	{
		case T_Append:
			children = ((Append *) plan)->appendplans;
			break;
		case T_MergeAppend:
			children = ((MergeAppend *) plan)->mergeplans;
			break;
		case T_BitmapAnd:
			children = ((BitmapAnd *) plan)->bitmapplans;
			break;
		case T_BitmapOr:
			children = ((BitmapOr *) plan)->bitmapplans;
			break;
		case T_SubqueryScan:
			refuse_row_arrays(((SubqueryScan *) plan)->subplan);
			break;
		case T_CustomScan:
			children = ((CustomScan *) plan)->custom_plans;
			break;
		default:
			break;
	}
	foreach(lc, children)
		refuse_row_arrays((Plan *) lfirst(lc));
}

#if PG_VERSION_NUM >= 150000
/*
 * MERGE into a table under row level security. PostgreSQL applies the policies of its UPDATE
 * and DELETE actions as checks that fail the statement, not as filters, and filters the
 * target's scan by the SELECT policy only when the statement reads one of the target's
 * columns: `MERGE INTO posts USING (SELECT 1) s ON true WHEN MATCHED AND <counter> THEN
 * DELETE` runs its condition on every tenant's rows (an exact count of them, and where they
 * lie), and fails exactly when another tenant has one. Refused before planning, in a function
 * or a DO block too; nothing tenancy sends uses MERGE.
 */
static void
refuse_merge(Query *parse)
{
	RangeTblEntry *target;

	if (parse->commandType != CMD_MERGE || parse->resultRelation <= 0 || superuser())
		return;
	target = rt_fetch(parse->resultRelation, parse->rtable);
	if (target->rtekind == RTE_RELATION &&
		check_enable_rls(target->relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("tenancy: MERGE into \"%s\", which row level security protects, is not allowed",
						get_rel_name(target->relid)),
				 errdetail("PostgreSQL tests a MERGE's conditions on every tenant's rows and checks the policies only as errors: it would count other tenants' rows"),
				 errhint("use INSERT .. ON CONFLICT, UPDATE or DELETE")));
}
#endif

/*
 * A plan made while debug_print_plan is on is printed to the server's log and, once the
 * session asks for LOG messages (client_min_messages, which any role may set), to the client:
 * its row estimates come from statistics sampled over every tenant's rows, which is why
 * EXPLAIN is refused on a tenancy connection (guard_utility). Refused before planning, so
 * nothing is printed; the same setting that allows EXPLAIN for diagnosis allows this.
 */
static PlannedStmt *
guard_planner(Query *parse, const char *query_string, int cursorOptions,
			  ParamListInfo boundParams)
{
	PlannedStmt *planned;
	ListCell   *lc;

#if PG_VERSION_NUM >= 150000
	refuse_merge(parse);
#endif

	if (have_session && Debug_print_plan && !allow_explain)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("tenancy: debug_print_plan is not allowed on a tenancy connection: a printed plan's estimates come from statistics over every tenant's rows"),
				 errhint("print plans as the tables' owner, or on a login a superuser gave tenancy_context.allow_explain = on for diagnosis")));
	if (previous_planner != NULL)
		planned = previous_planner(parse, query_string, cursorOptions, boundParams);
	else
		planned = standard_planner(parse, query_string, cursorOptions, boundParams);
	/* Superusers bypass row level security: nothing to order for them. */
	if (!superuser())
	{
		refuse_row_arrays(planned->planTree);
		foreach(lc, planned->subplans)
			refuse_row_arrays((Plan *) lfirst(lc));
	}
	return planned;
}

void
_PG_init(void)
{
	DefineCustomStringVariable(WORKER_SETTING,
							   "tenancy: the context the leader hands to its parallel workers",
							   "Written by the tenancy_context extension itself before a parallel plan starts.",
							   &worker_context,
							   "",
							   PGC_SUSET,
							   GUC_NO_SHOW_ALL | GUC_NO_RESET_ALL | GUC_NOT_IN_SAMPLE |
							   GUC_DISALLOW_IN_FILE | GUC_DISALLOW_IN_AUTO_FILE,
							   NULL, NULL, NULL);
	DefineCustomBoolVariable("tenancy_context.allow_explain",
							 "tenancy: lets tenancy connections run EXPLAIN",
							 "EXPLAIN shows estimates made from statistics over every tenant's rows: for a login kept for diagnosis only.",
							 &allow_explain,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("tenancy_context");
	RegisterXactCallback(guard_session, NULL);
	CacheRegisterRelcacheCallback(key_relation_changed, (Datum) 0);
	previous_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = guard_utility;
	previous_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = executor_start;
	previous_planner = planner_hook;
	planner_hook = guard_planner;
	status_init();
	settings_watch_init();
}

static void
refuse_mac(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("tenancy: tenant context refused: bad MAC"),
			 errhint("only the application holding the context key can open a tenant context")));
}

/* The canonical text form (lowercase, hyphenated), as uuid_out and Rust's uuid print it. */
static void
uuid_text(const pg_uuid_t *u, char *out)
{
	static const char hex[] = "0123456789abcdef";
	int			j = 0;

	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[j++] = '-';
		out[j++] = hex[u->data[i] >> 4];
		out[j++] = hex[u->data[i] & 0x0f];
	}
	out[j] = '\0';
}

static Oid
relation_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "tenancy_context: cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * Reads the key straight from tenancy.context_key with the statement's snapshot: a heap scan of
 * its one row, without planning or starting an executor, which a query through SPI would cost
 * in every transaction. Reading it each time keeps a replaced key in force at once. Returns
 * whether a key of the right length is there.
 */
static bool
read_key(Oid key_rel, uint8 *key)
{
	Relation	rel = table_open(key_rel, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber	id_att = InvalidAttrNumber;
	AttrNumber	key_att = InvalidAttrNumber;
	Snapshot	snapshot;
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		have_key = false;

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (strcmp(NameStr(att->attname), "id") == 0 && att->atttypid == INT4OID)
			id_att = att->attnum;
		else if (strcmp(NameStr(att->attname), "key") == 0 && att->atttypid == BYTEAOID)
			key_att = att->attnum;
	}
	if (id_att == InvalidAttrNumber || key_att == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("tenancy: tenancy.context_key has no columns id (integer) and key (bytea)"),
				 errhint("run tenancy's migrations")));

	snapshot = RegisterSnapshot(ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot());
	scan = table_beginscan(rel, snapshot, 0, NULL);
	slot = table_slot_create(rel, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, id_att, &isnull);

		if (isnull || DatumGetInt32(d) != 1)
			continue;
		d = slot_getattr(slot, key_att, &isnull);
		if (!isnull)
		{
			bytea	   *b = DatumGetByteaPP(d);

			if (VARSIZE_ANY_EXHDR(b) == KEY_LEN)
			{
				memcpy(key, VARDATA_ANY(b), KEY_LEN);
				have_key = true;
			}
			if ((Pointer) b != DatumGetPointer(d))
				pfree(b);
		}
		break;
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	/* Held to the end of the transaction, as a query's would be. */
	table_close(rel, NoLock);
	return have_key;
}

/*
 * The key kept between transactions (extension 1.2), with the relations it came from. Kept only
 * while tenancy.context_key carries the status triggers: a change to the key is then a relation
 * cache invalidation that every backend takes in before its next transaction, and the callback
 * below drops the kept key, so a replaced key still takes effect for every transaction begun
 * after its commit. Reading it costs each transaction a lock, a scan and a snapshot otherwise.
 */
static bool key_kept = false;
static bool key_kept_present = false;
static uint8 key_kept_bytes[KEY_LEN];
static Oid	key_kept_rel = InvalidOid;
static Oid	key_kept_seq = InvalidOid;
static Oid	key_kept_owner = InvalidOid;
static uint64 key_generation = 0;

/*
 * The session number, read once per connection: currval() costs every transaction a lock on
 * the sequence, a permission check and the switches to and from the key's owner. The number
 * read by the first entry is the one the pool got from tenancy.open_session() when it opened
 * the connection, and the one all its MACs are made for; SQL that calls open_session() again
 * gets a new number that no MAC was made for, and it changes nothing here. The number belongs
 * to the sequence it was read from: once tenancy.session_seq is another relation (dropped and
 * made again, when it hands out its numbers again), it is read from that one, where this
 * backend has none, and the entry fails.
 */
static int64 session_number = 0;
static Oid	session_number_seq = InvalidOid;	/* InvalidOid until the first entry read it */

static void
forget_key(void)
{
	key_kept = false;
	key_kept_present = false;
	key_kept_owner = InvalidOid;
	explicit_bzero(key_kept_bytes, sizeof(key_kept_bytes));
}

/* Any invalidation while the key is read keeps it from being kept; one of its tables drops it. */
static void
key_relation_changed(Datum arg, Oid relid)
{
	key_generation++;
	if (relid == InvalidOid || relid == key_kept_rel || relid == key_kept_seq)
		forget_key();
}

/*
 * Reads the key, the session number and, when asked, the tenant's refusal as the key's owner.
 * Returns whether a key of the right length exists; *refusal is empty when there is none.
 */
static bool
lookup(const pg_uuid_t *tenant, bool check_status, uint8 *key, int64 *session,
	   char *refusal, size_t refusal_size)
{
	Oid			key_rel;
	Oid			session_seq;
	Oid			save_userid;
	int			save_sec_context;
	bool		have_key;

	/* A key replaced before this transaction began must be seen: take in what is pending. */
	AcceptInvalidationMessages();
	if (key_kept)
	{
		key_rel = key_kept_rel;
		session_seq = key_kept_seq;
	}
	else
	{
		Oid			nsp = get_namespace_oid("tenancy", false);

		key_rel = get_relname_relid("context_key", nsp);
		session_seq = get_relname_relid("session_seq", nsp);
		if (!OidIsValid(key_rel) || !OidIsValid(session_seq))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("tenancy: tenancy.context_key or tenancy.session_seq is missing"),
					 errhint("run tenancy's migrations")));
	}

	/* Errors below abort the transaction, which restores the user and the settings. */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(key_kept ? key_kept_owner : relation_owner(key_rel),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);

	if (OidIsValid(session_number_seq) && session_number_seq == session_seq)
		*session = session_number;
	else
	{
		/* Fails ("not yet defined in this session") on a connection without a session. */
		*session = DatumGetInt64(DirectFunctionCall1(currval_oid,
													 ObjectIdGetDatum(session_seq)));
		session_number = *session;
		session_number_seq = session_seq;
	}
	/* Asked again: opening the sequence takes in invalidations, which may have dropped it. */
	if (key_kept)
	{
		have_key = key_kept_present;
		memcpy(key, key_kept_bytes, KEY_LEN);
	}
	else
	{
		uint64		generation = key_generation;

		/*
		 * Kept only when read with a snapshot taken after what was pending had been taken in
		 * (not a transaction snapshot of REPEATABLE READ, which may be older), with nothing
		 * arriving meanwhile, and while the triggers that announce a change are in place.
		 */
		have_key = read_key(key_rel, key);
		if (!IsolationUsesXactSnapshot() && has_status_trigger(key_rel) &&
			generation == key_generation)
		{
			key_kept_rel = key_rel;
			key_kept_seq = session_seq;
			key_kept_owner = relation_owner(key_rel);
			key_kept_present = have_key;
			if (have_key)
				memcpy(key_kept_bytes, key, KEY_LEN);
			key_kept = true;
		}
	}
	refusal[0] = '\0';
	if (have_key && check_status && tenant != NULL)
		tenant_refusal(tenant, refusal, refusal_size);

	SetUserIdAndSecContext(save_userid, save_sec_context);
	return have_key;
}

static void
hmac_failed(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("tenancy_context: HMAC-SHA256 failed in OpenSSL")));
}

static void
hmac_prepare(const uint8 *key)
{
	uint8		pad[HMAC_BLOCK];

	if (hmac_ready && memcmp(key, hmac_key, KEY_LEN) == 0)
		return;
	hmac_ready = false;
	/* The keys are 32 bytes, shorter than a block: padded with zeros, never hashed first. */
	memset(pad, 0x36, HMAC_BLOCK);
	for (int i = 0; i < KEY_LEN; i++)
		pad[i] ^= key[i];
	if (SHA256_Init(&hmac_inner) != 1 || SHA256_Update(&hmac_inner, pad, HMAC_BLOCK) != 1)
		hmac_failed();
	memset(pad, 0x5c, HMAC_BLOCK);
	for (int i = 0; i < KEY_LEN; i++)
		pad[i] ^= key[i];
	if (SHA256_Init(&hmac_outer) != 1 || SHA256_Update(&hmac_outer, pad, HMAC_BLOCK) != 1)
		hmac_failed();
	explicit_bzero(pad, sizeof(pad));
	memcpy(hmac_key, key, KEY_LEN);
	hmac_ready = true;
}

static void
hmac_sha256(const uint8 *key, const char *message, size_t len, uint8 *digest)
{
	uint8		inner[MAC_LEN];
	SHA256_CTX	work;
	bool		ok;

	hmac_prepare(key);
	work = hmac_inner;
	ok = SHA256_Update(&work, message, len) == 1 && SHA256_Final(inner, &work) == 1;
	work = hmac_outer;
	ok = ok && SHA256_Update(&work, inner, MAC_LEN) == 1 && SHA256_Final(digest, &work) == 1;
	explicit_bzero(&work, sizeof(work));
	if (!ok)
		hmac_failed();
}

/* Whether mac (len bytes) is the lowercase hex of expected, compared in constant time. */
static bool
mac_matches(const char *given, int len, const uint8 *expected)
{
	static const char hex[] = "0123456789abcdef";
	int			diff = 0;

	if (len != MAC_LEN * 2)
		return false;
	for (int i = 0; i < MAC_LEN; i++)
	{
		diff |= given[2 * i] ^ hex[expected[i] >> 4];
		diff |= given[2 * i + 1] ^ hex[expected[i] & 0x0f];
	}
	return diff == 0;
}

/*
 * The message the MAC covers, "native|<session>|<counter>|<tenant>|<principal>", as the
 * client writes it; returns its length. Built by hand: snprintf's format parsing was a tenth
 * of what enter() costs. message has room for MESSAGE_SIZE bytes.
 */
#define MESSAGE_SIZE 160

static int
native_message(char *message, int64 session, int64 counter, const char *tenant,
			   const char *principal)
{
	int			len = 0;
	size_t		part;

	StaticAssertStmt(MESSAGE_SIZE >= 7 + 2 * (MAXINT8LEN + 1) + 2 * (UUID_TEXT_LEN + 1),
					 "the message fits");
	memcpy(message, "native|", 7);
	len = 7;
	len += pg_lltoa(session, message + len);
	message[len++] = '|';
	len += pg_lltoa(counter, message + len);
	message[len++] = '|';
	part = strlen(tenant);
	memcpy(message + len, tenant, part);
	len += part;
	message[len++] = '|';
	part = strlen(principal);
	memcpy(message + len, principal, part);
	len += part;
	message[len] = '\0';
	return len;
}

/*
 * What both forms of enter() check and record: the MAC over the session number, the counter
 * and the context, the counter growing within the session, and with check_status the tenant's
 * status. tenant and principal are NULL for none.
 */
static void
enter_context(const pg_uuid_t *tenant, const pg_uuid_t *principal, int64 counter,
			  const char *mac, int mac_len, bool check_status)
{
	char		tenant_str[UUID_TEXT_LEN + 1] = "";
	char		principal_str[UUID_TEXT_LEN + 1] = "";
	int64		session;
	uint8		key[KEY_LEN];
	uint8		digest[MAC_LEN];
	char		refusal[16];
	char		message[MESSAGE_SIZE];
	int			len;

	if (tenant != NULL)
		uuid_text(tenant, tenant_str);
	if (principal != NULL)
		uuid_text(principal, principal_str);

	if (!lookup(tenant, check_status, key, &session, refusal, sizeof(refusal)))
		refuse_mac();

	len = native_message(message, session, counter, tenant_str, principal_str);
	hmac_sha256(key, message, (size_t) len, digest);
	explicit_bzero(key, sizeof(key));
	if (!mac_matches(mac, mac_len, digest))
		refuse_mac();

	if (!have_session || counter_session != session)
	{
		have_session = true;
		counter_session = session;
		last_counter = 0;
	}
	if (counter <= last_counter)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("tenancy: tenant context refused: replayed counter")));

	if (refusal[0] != '\0')
	{
		if (strcmp(refusal, "unknown") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("tenancy: unknown tenant %s", tenant_str)));
		if (strcmp(refusal, "deleted") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("tenancy: tenant %s is deleted", tenant_str)));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("tenancy: tenant %s is suspended", tenant_str)));
	}

	last_counter = counter;
	context.has_tenant = tenant != NULL;
	context.tenant = tenant != NULL ? *tenant : (pg_uuid_t) {{0}};
	context.has_principal = principal != NULL;
	context.principal = principal != NULL ? *principal : (pg_uuid_t) {{0}};
	context.lxid = CURRENT_LXID;
}

/* enter(tenant, principal, counter, mac, check_status): the form of extension 1.0 and 1.1. */
Datum
tenancy_context_enter(PG_FUNCTION_ARGS)
{
	pg_uuid_t	tenant;
	pg_uuid_t	principal;
	text	   *mac;

	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		refuse_mac();
	if (!PG_ARGISNULL(0))
		tenant = *PG_GETARG_UUID_P(0);
	if (!PG_ARGISNULL(1))
		principal = *PG_GETARG_UUID_P(1);
	mac = PG_GETARG_TEXT_PP(3);
	enter_context(PG_ARGISNULL(0) ? NULL : &tenant, PG_ARGISNULL(1) ? NULL : &principal,
				  PG_GETARG_INT64(2), VARDATA_ANY(mac), VARSIZE_ANY_EXHDR(mac),
				  !PG_ARGISNULL(4) && PG_GETARG_BOOL(4));
	PG_RETURN_VOID();
}

static void
refuse_malformed(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("tenancy: tenant context refused: malformed entry"),
			 errhint("the entry is '<tenant>|<principal>|<counter>|<mac>|<t or f>' as tenancy writes it")));
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * A UUID in the canonical text form only (lowercase, hyphenated): the MAC covers that form,
 * so any other spelling could never match anyway. Empty is none; returns false when malformed.
 */
static bool
parse_uuid(const char *s, int len, pg_uuid_t *out, bool *present)
{
	int			j = 0;

	*present = len > 0;
	if (len == 0)
		return true;
	if (len != UUID_TEXT_LEN)
		return false;
	for (int i = 0; i < UUID_LEN; i++)
	{
		int			hi,
					lo;

		if (j == 8 || j == 13 || j == 18 || j == 23)
		{
			if (s[j] != '-')
				return false;
			j++;
		}
		hi = hex_value(s[j]);
		lo = hex_value(s[j + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out->data[i] = (uint8) (hi << 4 | lo);
		j += 2;
	}
	return true;
}

/* A positive decimal counter of at most 18 digits, which cannot overflow an int64. */
static bool
parse_counter(const char *s, int len, int64 *out)
{
	int64		v = 0;

	if (len < 1 || len > 18)
		return false;
	for (int i = 0; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * The entry '<tenant>|<principal>|<counter>|<mac>|<t or f>' (tenant and principal empty for
 * none), checked and recorded as enter_context() does; NULL is malformed.
 */
static void
enter_packed_text(const char *s, int len)
{
	const char *field[5];
	int			field_len[5];
	int			n = 0;
	int			start = 0;
	pg_uuid_t	tenant;
	pg_uuid_t	principal;
	bool		has_tenant;
	bool		has_principal;
	int64		counter;

	for (int i = 0; i <= len; i++)
	{
		if (i < len && s[i] != '|')
			continue;
		if (n == 5)
			refuse_malformed();
		field[n] = s + start;
		field_len[n] = i - start;
		n++;
		start = i + 1;
	}
	if (n != 5 ||
		!parse_uuid(field[0], field_len[0], &tenant, &has_tenant) ||
		!parse_uuid(field[1], field_len[1], &principal, &has_principal) ||
		!parse_counter(field[2], field_len[2], &counter) ||
		field_len[4] != 1 || (field[4][0] != 't' && field[4][0] != 'f'))
		refuse_malformed();
	enter_context(has_tenant ? &tenant : NULL, has_principal ? &principal : NULL, counter,
				  field[3], field_len[3], field[4][0] == 't');
}

static void
enter_packed(FunctionCallInfo fcinfo)
{
	text	   *entry;

	if (PG_ARGISNULL(0))
		refuse_malformed();
	entry = PG_GETARG_TEXT_PP(0);
	enter_packed_text(VARDATA_ANY(entry), VARSIZE_ANY_EXHDR(entry));
}

/*
 * enter(entry text), extension 1.2: the same entry as one argument. One text literal is what
 * the server parses fastest: five typed arguments cost it more to parse, coerce and evaluate
 * than the checks themselves.
 */
Datum
tenancy_context_enter_packed(PG_FUNCTION_ARGS)
{
	enter_packed(fcinfo);
	PG_RETURN_VOID();
}

/*
 * begin(entry text, read_only boolean), extension 1.3: opens the transaction block and enters
 * its context in one statement, so that the client can prepare it once per connection. BEGIN
 * and CALL enter(..) are sent as text in every transaction, and the server parses and analyses
 * both each time; a prepared statement is only bound and run. What BEGIN does is what this
 * does after the checks: BeginTransactionBlock() turns the statement's own transaction into
 * the block, which the end of the statement (its Sync) leaves open, and with read_only it sets
 * transaction_read_only for the block as BEGIN READ ONLY does. The statement itself took the
 * transaction's first snapshot, so an isolation level can no longer be set: a transaction with
 * one starts with BEGIN ISOLATION LEVEL .. and enter(). Refused inside a transaction block, as
 * a second BEGIN would only warn; a refused entry leaves no transaction behind.
 */
Datum
tenancy_context_begin(PG_FUNCTION_ARGS)
{
	if (IsTransactionBlock() || IsSubTransaction())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("tenancy: tenancy_context.begin() opens the transaction: it cannot run inside one"),
				 errhint("send it on its own, outside BEGIN .. COMMIT; inside a transaction, CALL tenancy_context.enter(..) enters the context")));
	if (PG_ARGISNULL(1))
		refuse_malformed();
	enter_packed(fcinfo);
	BeginTransactionBlock();
	if (PG_GETARG_BOOL(1))
		(void) set_config_option("transaction_read_only", "on", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
	PG_RETURN_VOID();
}

/*
 * enter_block(entry text), extension 1.5: the checks and the context of CALL enter(entry), as a
 * function, for a transaction block that is already open. A pipeline sends BEGIN as text and
 * then this as a prepared statement, SELECT WHERE tenancy_context.enter_block($1) IS NULL: the
 * server runs it through the executor for less than a CALL costs (which builds an executor
 * state and prepares each argument again on every call), and a refused entry aborts the block,
 * so that the statements pipelined behind it are refused. Outside a transaction block it would
 * enter a context for its own statement only: refused.
 */
Datum
tenancy_context_enter_block(PG_FUNCTION_ARGS)
{
	if (!IsTransactionBlock())
		ereport(ERROR,
				(errcode(ERRCODE_NO_ACTIVE_SQL_TRANSACTION),
				 errmsg("tenancy: tenancy_context.enter_block() enters the context of a transaction block: it cannot run outside one"),
				 errhint("send BEGIN first, or open the transaction with tenancy_context.begin(..)")));
	enter_packed(fcinfo);
	PG_RETURN_VOID();
}

static bool
entered_now(void)
{
	return context.lxid != InvalidLocalTransactionId && context.lxid == CURRENT_LXID;
}

Datum
tenancy_context_entered(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(entered_now());
}

static Datum
uuid_datum(const pg_uuid_t *u)
{
	pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

	*copy = *u;
	return UUIDPGetDatum(copy);
}

Datum
tenancy_context_tenant(PG_FUNCTION_ARGS)
{
	if (!entered_now() || !context.has_tenant)
		PG_RETURN_NULL();
	return uuid_datum(&context.tenant);
}

Datum
tenancy_context_principal(PG_FUNCTION_ARGS)
{
	if (!entered_now() || !context.has_principal)
		PG_RETURN_NULL();
	return uuid_datum(&context.principal);
}

/*
 * The SQL context's verified reader, tenancy.verified_context(part, setting), called as the
 * policies called it before: with the caller's EXECUTE privilege checked, as the function's
 * owner (it is SECURITY DEFINER, which fmgr honours), NULL passed through.
 */
static Datum
sql_context_part(FunctionCallInfo outer, int part, const char *setting)
{
	Oid			argtypes[2] = {INT4OID, TEXTOID};
	List	   *name = list_make2(makeString(pstrdup("tenancy")),
								  makeString(pstrdup("verified_context")));
	Oid			fn = LookupFuncName(name, 2, argtypes, false);
#if PG_VERSION_NUM >= 160000
	AclResult	acl = object_aclcheck(ProcedureRelationId, fn, GetUserId(), ACL_EXECUTE);
#else
	AclResult	acl = pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE);
#endif
	FmgrInfo	flinfo;
	Datum		result;

	LOCAL_FCINFO(fcinfo, 2);

	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_FUNCTION, get_func_name(fn));
	fmgr_info(fn, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 2, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = Int32GetDatum(part);
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = CStringGetTextDatum(setting);
	fcinfo->args[1].isnull = false;
	result = FunctionCallInvoke(fcinfo);
	outer->isnull = fcinfo->isnull;
	return fcinfo->isnull ? (Datum) 0 : result;
}

/*
 * A parallel worker's copy of its leader's answers, read from the setting on the worker's
 * first call: a worker runs one plan, and no setting changes while it runs. A worker whose
 * leader handed nothing over (a leader that had not loaded this library when the plan started)
 * fails rather than answer NULL, which would lose the rows the workers scan.
 */
static ContextState worker = {InvalidLocalTransactionId};
static bool worker_read = false;

static const ContextState *
worker_state(void)
{
	const char *v = worker_context;
	const char *field;
	const char *colon;

	if (worker_read)
		return &worker;
	if (v == NULL || strncmp(v, WORKER_FORMAT, strlen(WORKER_FORMAT)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenancy: this parallel worker got no tenant context from its leader"),
				 errhint("load tenancy_context in the session before it plans in parallel (tenancy's pools do), "
						 "or SET max_parallel_workers_per_gather = 0")));
	field = v + strlen(WORKER_FORMAT);
	colon = strchr(field, ':');
	if (colon == NULL ||
		!parse_uuid(field, colon - field, &worker.tenant, &worker.has_tenant) ||
		!parse_uuid(colon + 1, strlen(colon + 1), &worker.principal, &worker.has_principal))
		elog(ERROR, "tenancy_context: malformed %s", WORKER_SETTING);
	worker_read = true;
	return &worker;
}

/* The leader's answer for part 1 or 2 as text, "" for NULL, into out (UUID_TEXT_LEN + 1). */
static void
leader_part(int part, bool sql_context, char *out)
{
	out[0] = '\0';
	if (entered_now())
	{
		if (part == 1 && context.has_tenant)
			uuid_text(&context.tenant, out);
		else if (part == 2 && context.has_principal)
			uuid_text(&context.principal, out);
	}
	else if (sql_context)
	{
		LOCAL_FCINFO(outer, 0);
		Datum		d;

		outer->isnull = false;
		d = sql_context_part(outer, part, part == 1 ? "tenancy.tenant_id" : "tenancy.principal_id");
		if (!outer->isnull)
			uuid_text(DatumGetUUIDP(d), out);
	}
}

/*
 * Every plan that starts: none right after a refused entry (entry_refused). Before a parallel
 * plan starts, and before PostgreSQL enters parallel mode (after which no setting may change):
 * the readers' answers in this transaction, for the workers. The SQL context's answer where
 * this transaction entered no native one and has a SQL context; none where it has neither,
 * as the readers answer in the leader.
 */
static void
executor_start(QueryDesc *query, int eflags)
{
	if (entry_refused)
		refuse_after_refused_entry();
	if (query->plannedstmt->parallelModeNeeded && !IsInParallelMode() &&
		(eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0)
	{
		const char *sql = GetConfigOption("tenancy.context", true, false);
		bool		sql_context = !entered_now() && sql != NULL && sql[0] != '\0';
		char		tenant[UUID_TEXT_LEN + 1];
		char		principal[UUID_TEXT_LEN + 1];
		char		value[sizeof(WORKER_FORMAT) + 2 * UUID_TEXT_LEN + 2];

		leader_part(1, sql_context, tenant);
		leader_part(2, sql_context, principal);
		snprintf(value, sizeof(value), "%s%s:%s", WORKER_FORMAT, tenant, principal);
		(void) set_config_option(WORKER_SETTING, value, PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
	}
	if (previous_executor_start)
		previous_executor_start(query, eflags);
	else
		standard_ExecutorStart(query, eflags);
}

/*
 * The context the readers answer from: what the leader handed over in a parallel worker, else
 * this transaction's native context; NULL where the SQL context answers.
 */
static const ContextState *
answering_context(void)
{
	return IsParallelWorker() ? worker_state() : entered_now() ? &context : NULL;
}

/*
 * The policies' readers where the native context is switched on (extension 1.2): the native
 * context when this transaction entered one, else the SQL context's. One C function in place
 * of a CASE over entered(), tenant() and verified_context(): the executor initializes every
 * function of a policy's expression in every statement, each with a privilege check, so the
 * CASE cost three of those per policy and statement. In a parallel worker (extension 1.4): what
 * the leader handed over, read once.
 */
Datum
tenancy_context_current_tenant(PG_FUNCTION_ARGS)
{
	const ContextState *c = answering_context();

	if (c == NULL)
		return sql_context_part(fcinfo, 1, "tenancy.tenant_id");
	if (!c->has_tenant)
		PG_RETURN_NULL();
	return uuid_datum(&c->tenant);
}

Datum
tenancy_context_current_principal(PG_FUNCTION_ARGS)
{
	const ContextState *c = answering_context();

	if (c == NULL)
		return sql_context_part(fcinfo, 2, "tenancy.principal_id");
	if (!c->has_principal)
		PG_RETURN_NULL();
	return uuid_datum(&c->principal);
}
