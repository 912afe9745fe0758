/*
 * What the parts of tenancy_context share.
 */
#ifndef TENANCY_CONTEXT_H
#define TENANCY_CONTEXT_H

#include "nodes/nodes.h"
#include "utils/uuid.h"

/* Registers the callbacks that drop the kept tenant status (status.c). */
extern void status_init(void);

/*
 * Whether the tenant may open a context, as the status hook answers: *refusal is empty when it
 * may, else 'unknown', 'deleted' or 'suspended'. Called as the key's owner (status.c).
 */
extern void tenant_refusal(const pg_uuid_t *tenant, char *refusal, size_t refusal_size);

/*
 * Whether every change to the table becomes an invalidation that reaches every backend: it
 * carries the status triggers in their one accepted form (status.c).
 */
extern bool has_status_trigger(Oid relid);

/*
 * Which transactions may have changed a setting, so that the session guard looks at every
 * setting only at their commits (settings_watch.c): init registers the hooks, utility notes a
 * utility statement, reset forgets at each transaction's end.
 */
extern void settings_watch_init(void);
extern void settings_watch_utility(Node *stmt);
extern bool settings_may_have_changed(void);
extern void settings_watch_reset(void);

#endif
