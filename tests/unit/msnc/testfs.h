/* testfs.h - file-system checks shared by the msnc unit tests. */
#ifndef MSNC_TESTFS_H
#define MSNC_TESTFS_H

#include <dirent.h>
#include <string.h>

/* Entries in dir other than . and .. (-1 if it cannot be read): a failed
 * transfer must leave neither its file nor a temporary one behind. */
static inline int dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

#endif
