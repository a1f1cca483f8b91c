/* dbtool.h - `msnd db ...`: database commands that need no running server.
 * Their command line is msnd's own (main.c), so that options may come
 * before or after the subcommand as for `msnd user`. */
#ifndef MSND_DBTOOL_H
#define MSND_DBTOOL_H

#include <stdio.h>

/* The usage of `msnd db`. */
void dbtool_usage(FILE *f);
/* `msnd db init`: create or upgrade the schema of db. Returns the exit
 * status. */
int dbtool_init(const char *db);
/* `msnd db migrate`: copy the store from names into the empty one to
 * names. Returns the exit status. */
int dbtool_migrate(const char *from, const char *to);

#endif
