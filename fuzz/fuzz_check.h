/* fuzz_check.h - the invariant check of the fuzz targets: a broken one is
 * printed with its place (the file names the target) and aborts, so
 * libFuzzer keeps the input that broke it. */
#ifndef MSNKIT_FUZZ_CHECK_H
#define MSNKIT_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort(); \
        } \
    } while (0)

#endif
