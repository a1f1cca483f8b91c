/* msnkit/special.h - names an output is renamed over.
 *
 * msnd's port file and msngate's stats file are written under a new name
 * beside their own and renamed over it. Given a device, FIFO or socket
 * (--port-file /dev/null, as one names an output to discard it), the
 * rename replaces that node with a regular file (and msnd removes the
 * port file at exit): refused instead, naming what the name is. */
#ifndef MSNKIT_SPECIAL_H
#define MSNKIT_SPECIAL_H

/* What path names when it exists and is neither a regular file nor a
 * symbolic link ("a character device", "a FIFO", "a directory", ...);
 * NULL when it is missing, a regular file or a link. */
const char *msnkit_special_file(const char *path);

#endif
