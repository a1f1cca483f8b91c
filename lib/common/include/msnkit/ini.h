/* ini.h - INI files read with whole lines, for the programs that take one
 * (msnd, msnc, msngate).
 *
 * libinih as Debian builds it reads at most 200 bytes of a line: the
 * handler gets the value cut there, and the rest comes as a line of its
 * own, which then fails as "not a key = value line" one line further on.
 * A list of addresses or a long path then loses its end, or is refused
 * for the wrong reason. Debian's libinih lets the line buffer grow
 * (ini_allow_realloc, ini_max_line); msnkit_ini_parse uses that, and
 * refuses a line longer than MSNKIT_INI_MAX_LINE by its number before any
 * setting is applied.
 *
 * Two more things libinih would do in silence are refused or turned off:
 * a NUL byte ends a line for it (fgets, then strlen), so "max_line = 40\0 00"
 * would set 40 and drop the rest; and an indented line continues the
 * setting above it (ini_allow_multiline), so an indented "log_level = debug"
 * under "log_file = x" would become log_file's new value. Here an indented
 * line is a line like any other, and a NUL byte is refused by its line.
 * Header only: the three programs link libinih, the others never see it. */
#ifndef MSNKIT_INI_H
#define MSNKIT_INI_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <ini.h>

#define MSNKIT_INI_MAX_LINE 65536              /* bytes, without the line's end */
#define MSNKIT_INI_MAX_FILE (16 * 1024 * 1024) /* bytes: a file, not a stream without end */

/* ini_parse_string on the file at path, read whole first, lines whole:
 * what ini_parse returns (0, the first bad line, -1 when the file cannot
 * be opened, -2 out of memory), -3 with *bad_line set to the first line
 * longer than MSNKIT_INI_MAX_LINE, -4 with errno set when reading fails
 * (path names a directory: fopen takes it, the first read says EISDIR;
 * EFBIG past MSNKIT_INI_MAX_FILE), or -5 with *bad_line set to the first
 * line holding a NUL byte; nothing was handed to the handler for -3, -4
 * and -5. The file is read once, into memory: a pipe (--config <(...),
 * /dev/stdin) cannot be read a second time, and rewinding one did
 * nothing, so its settings were never applied. */
static inline int msnkit_ini_parse(const char *path, ini_handler handler, void *user, int *bad_line) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *text = NULL;
    size_t n = 0, cap = 0, len = 0;
    int line = 1, c, rc = 0, e = 0;
    while ((c = getc(f)) != EOF) {
        if (c == '\n') {
            line++;
            len = 0;
        } else if (++len > MSNKIT_INI_MAX_LINE || c == '\0') {
            *bad_line = line;
            rc = c == '\0' ? -5 : -3;
            break;
        }
        if (n + 1 >= cap) {
            if (cap >= MSNKIT_INI_MAX_FILE) {
                rc = -4;
                e = EFBIG;
                break;
            }
            char *grown = realloc(text, cap ? 2 * cap : 4096);
            if (!grown) {
                rc = -2;
                break;
            }
            text = grown;
            cap = cap ? 2 * cap : 4096;
        }
        text[n++] = (char)c;
    }
    if (rc == 0 && ferror(f)) {
        rc = -4;
        e = errno;
    }
    fclose(f);
    if (rc == 0 && !text && !(text = malloc(1))) rc = -2;
    if (rc != 0) {
        free(text);
        if (rc == -4) errno = e;
        return rc;
    }
    text[n] = '\0';
    ini_allow_realloc = 1;
    ini_allow_multiline = 0;
    ini_max_line = MSNKIT_INI_MAX_LINE + 3; /* room for "\r\n" and the NUL */
    rc = ini_parse_string(text, handler, user);
    free(text);
    return rc;
}

/* For msnkit_ini_parse's -3 and -5, the message naming the file and the
 * line ("FILE:LINE: ...") in err: 1 when rc was one of those, else 0 (the
 * caller says the rest in its own words). */
static inline int msnkit_ini_line_error(int rc, const char *path, int bad_line, char *err, size_t errcap) {
    if (rc == -3) snprintf(err, errcap, "%s:%d: line longer than %d bytes", path, bad_line, MSNKIT_INI_MAX_LINE);
    else if (rc == -5) snprintf(err, errcap, "%s:%d: a NUL byte (not a text file?)", path, bad_line);
    else return 0;
    return 1;
}

#endif
