/* special.c - names an output is renamed over (msnkit/special.h). */
#include <msnkit/special.h>

#include <stddef.h>
#include <sys/stat.h>

const char *msnkit_special_file(const char *path) {
    struct stat st;
    if (!path[0] || lstat(path, &st) != 0 || S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) return NULL;
    if (S_ISDIR(st.st_mode)) return "a directory";
    if (S_ISCHR(st.st_mode)) return "a character device";
    if (S_ISBLK(st.st_mode)) return "a block device";
    if (S_ISFIFO(st.st_mode)) return "a FIFO";
    if (S_ISSOCK(st.st_mode)) return "a socket";
    return "not a file";
}
