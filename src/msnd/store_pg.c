#include "store_impl.h"
#include <stdio.h>
store *store_pg_open(const char *conninfo, char *err, size_t errcap) {
    (void)conninfo;
    snprintf(err, errcap, "not yet");
    return NULL;
}
