/* schema.h - the database schema of both store backends, in one place.
 * Version n of the schema is reached by running migrations 0..n-1 in order
 * inside one transaction; the backend records the version it reached. */
#ifndef MSND_SCHEMA_H
#define MSND_SCHEMA_H

typedef enum schema_dialect { SCHEMA_SQLITE = 0, SCHEMA_POSTGRESQL = 1 } schema_dialect;

/* The version this msnd writes and reads. */
int schema_version(void);
/* SQL bringing version `from` to from+1 ("" when the dialect has nothing
 * to do at that step), NULL when from is out of range. */
const char *schema_migration(schema_dialect d, int from);

#endif
