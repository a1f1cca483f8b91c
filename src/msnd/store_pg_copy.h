/* store_pg_copy.h - rows written to PostgreSQL with COPY, a chunk of rows
 * per statement (the target side of `msnd db migrate` and the bulk load).
 * Private to the PostgreSQL store. */
#ifndef MSND_STORE_PG_COPY_H
#define MSND_STORE_PG_COPY_H

#include <libpq-fe.h>
#include <stdint.h>

#include "store.h"

typedef struct pg_copy pg_copy;

/* A writer on c, whose transaction is open; created: the accounts'
 * creation time. The loaded tables' foreign keys are dropped until
 * pg_copy_finish. NULL with the reason in err when it cannot start. */
pg_copy *pg_copy_new(PGconn *c, int64_t created, char *err, size_t errcap);
void pg_copy_free(pg_copy *w);

/* Each queues a row (and an FL entry's group memberships); a chunk is sent
 * when it is full or the table changes. 0, or -1 when a chunk sent now
 * failed: pg_copy_refused says why and which row. */
int pg_copy_user(pg_copy *w, const store_user *u);
int pg_copy_group(pg_copy *w, int64_t owner, int gid, const char *name);
int pg_copy_entry(pg_copy *w, int64_t owner, msnp_list list, const store_entry *e);
int pg_copy_prop(pg_copy *w, int64_t owner, const char *key, const char *value);
/* Sends what is queued. 0 or -1, as above. */
int pg_copy_flush(pg_copy *w);
/* Sends what is queued and makes the foreign keys again, which checks
 * every row against them (a refusal names no row). 0 or -1, as above. */
int pg_copy_finish(pg_copy *w);

/* After a failure: the database's reason (err), and the row it refused as
 * store_copy names rows: what ("account alice@example.com", "FL entry
 * bob@example.com", "group 3", "property PHH") and its account's id
 * (*owner; 0 for an account itself). what is "" when the database named no
 * row (then err is all there is). */
void pg_copy_refused(const pg_copy *w, char *err, size_t errcap, char *what, size_t whatcap, int64_t *owner);

#endif
