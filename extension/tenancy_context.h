/*
 * What the parts of tenancy_context share.
 */
#ifndef TENANCY_CONTEXT_H
#define TENANCY_CONTEXT_H

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

#endif
