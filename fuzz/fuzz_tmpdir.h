/* fuzz_tmpdir.h - a fuzz target's scratch directory under /tmp, made once
 * per process and removed with the files in it when the process exits
 * (libFuzzer's runs and the replay tests alike), so that no run leaves one
 * behind. The targets write plain files there, no subdirectories. */
#ifndef MSNKIT_FUZZ_TMPDIR_H
#define MSNKIT_FUZZ_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_tmpdir_path[64];

static void fuzz_tmpdir_remove(void) {
    DIR *d = opendir(fuzz_tmpdir_path);
    if (!d) return;
    struct dirent *e;
    char p[sizeof fuzz_tmpdir_path + 260];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", fuzz_tmpdir_path, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(fuzz_tmpdir_path);
}

/* /tmp/<name>-XXXXXX, made on the first call; aborts when it cannot be. */
static inline const char *fuzz_tmpdir(const char *name) {
    if (fuzz_tmpdir_path[0]) return fuzz_tmpdir_path;
    snprintf(fuzz_tmpdir_path, sizeof fuzz_tmpdir_path, "/tmp/%s-XXXXXX", name);
    if (!mkdtemp(fuzz_tmpdir_path) || atexit(fuzz_tmpdir_remove) != 0) abort();
    return fuzz_tmpdir_path;
}

#endif
