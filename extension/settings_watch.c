/*
 * Which transactions may have changed a setting: the session guard (guard_session) looks at
 * every setting at commit only for those.
 *
 * Looking costs one load per setting from a struct of its own, several hundred cache lines,
 * at every commit, which profiles showed as the guard's whole cost. A setting changes only
 * through two doors: a utility statement (SET, RESET, SET ROLE, SET SESSION AUTHORIZATION,
 * DISCARD, LOAD, and the ones that run SQL: DO, CALL; PL/pgSQL's SET and EXECUTE reach
 * ProcessUtility through SPI too), or set_config(), whose every caller (an expression, a
 * function in FROM, an aggregate's or window's transition, the fast-path protocol, a
 * constant folded by the planner, the pg_settings update rule) is checked for the EXECUTE
 * privilege, and named to the object access hook, before it runs. Functions that restore
 * what they set (a function's SET clause, the foreign-data wrappers, extension scripts) need
 * no look. C code may call the settings API directly: a C function of the built-ins is
 * set_config itself; one installed later, other than this extension's own, counts as a
 * change, as does loading this library in the middle of a transaction (what ran before it
 * went unseen). Native code the server calls outside an expression (a trigger function, a
 * type's input or output, an operator class's support) is set up without the hook: the watch
 * trusts what a superuser installed, as SQL on the application's login cannot install any.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/syscache.h"

#include "tenancy_context.h"

/* Whether the transaction may have changed a setting; the library loads with it set. */
static bool may_have_changed = true;

static object_access_hook_type previous_object_access = NULL;

/*
 * Installed functions already found not to count (this extension's own, which every
 * statement under its policies calls, above all): reading a C function's library from its
 * catalog row walks the row's variable-length columns at every call's set-up, which
 * profiles showed as most of the watch's cost. Any change to pg_proc empties the list
 * (remember_cleared), so a function replaced in place, or an OID used again, is judged again.
 */
#define REMEMBERED_MAX 16
static Oid	remembered[REMEMBERED_MAX];
static int	remembered_count = 0;
static int	remembered_next = 0;

static bool
is_remembered(Oid fn)
{
	for (int i = 0; i < remembered_count; i++)
		if (remembered[i] == fn)
			return true;
	return false;
}

static void
remember(Oid fn)
{
	remembered[remembered_next] = fn;
	remembered_next = (remembered_next + 1) % REMEMBERED_MAX;
	if (remembered_count < REMEMBERED_MAX)
		remembered_count++;
}

static void
remember_cleared(Datum arg, int cacheid, uint32 hashvalue)
{
	remembered_count = 0;
	remembered_next = 0;
}

/* Whether the function's library is this extension's own (probin compared in place). */
static bool
is_own_library(HeapTuple tuple)
{
	static const char own[] = "$libdir/tenancy_context";
	bool		isnull;
	Datum		probin = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_probin, &isnull);
	text	   *path;

	if (isnull)
		return false;
	path = DatumGetTextPP(probin);
	return VARSIZE_ANY_EXHDR(path) == sizeof(own) - 1 &&
		memcmp(VARDATA_ANY(path), own, sizeof(own) - 1) == 0;
}

/*
 * A function installed after initdb counts when it is native code other than this library's.
 * The syscache entry was just read by the EXECUTE check of the same call.
 */
static bool
installed_function_counts(Oid fn)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	bool		counts;

	if (!HeapTupleIsValid(tuple))
		return true;
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	counts = proc->prolang == INTERNALlanguageId ||
		(proc->prolang == ClanguageId && !is_own_library(tuple));
	ReleaseSysCache(tuple);
	return counts;
}

static void
watch_function_execute(ObjectAccessType access, Oid classId, Oid objectId, int subId,
					   void *arg)
{
	if (previous_object_access != NULL)
		previous_object_access(access, classId, objectId, subId, arg);
	if (access != OAT_FUNCTION_EXECUTE || may_have_changed)
		return;
	if (objectId == F_SET_CONFIG)
		may_have_changed = true;
	else if (objectId >= FirstNormalObjectId && !is_remembered(objectId))
	{
		if (installed_function_counts(objectId))
			may_have_changed = true;
		else
			remember(objectId);
	}
}

void
settings_watch_init(void)
{
	previous_object_access = object_access_hook;
	object_access_hook = watch_function_execute;
	CacheRegisterSyscacheCallback(PROCOID, remember_cleared, (Datum) 0);
}

/*
 * Every utility statement counts but the transaction statements, whose own settings
 * (isolation, access mode) last for the transaction only.
 */
void
settings_watch_utility(Node *stmt)
{
	if (!IsA(stmt, TransactionStmt))
		may_have_changed = true;
}

bool
settings_may_have_changed(void)
{
	return may_have_changed;
}

/* The transaction ended: what it changed was committed past the guard, or rolled back. */
void
settings_watch_reset(void)
{
	may_have_changed = false;
}
