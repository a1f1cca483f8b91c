/* Structured logging; see log.h. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static FILE *sink;
static char *sink_path;
static log_level min_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s, log_level *out) {
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

int log_open(const char *path, log_level level) {
    min_level = level;
    free(sink_path);
    sink_path = NULL;
    if (!path || !*path) {
        sink = stderr;
        return 0;
    }
    FILE *f = fopen(path, "a");
    if (!f) return -1;
    setvbuf(f, NULL, _IOLBF, 0);
    if (sink && sink != stderr) fclose(sink);
    sink = f;
    sink_path = strdup(path);
    return sink_path ? 0 : -1;
}

int log_reopen(void) {
    if (!sink_path) return 0;
    FILE *f = fopen(sink_path, "a");
    if (!f) return -1;
    setvbuf(f, NULL, _IOLBF, 0);
    if (sink && sink != stderr) fclose(sink);
    sink = f;
    return 0;
}

void log_close(void) {
    if (sink && sink != stderr) fclose(sink);
    sink = NULL;
    free(sink_path);
    sink_path = NULL;
}

int log_enabled(log_level level) { return level >= min_level; }

const char *log_quote(const char *src, size_t n, char *dst, size_t cap) {
    size_t o = 0;
    if (cap == 0) return dst;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[o++] = (c < 0x20 || c == 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
    }
    dst[o] = '\0';
    return dst;
}

void log_msg(log_level level, const char *msg, const char *fmt, ...) {
    if (!log_enabled(level)) return;
    FILE *out = sink ? sink : stderr;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    char line[2048];
    int n = snprintf(line, sizeof line, "ts=%s.%03ldZ level=%s msg=\"%s\"", ts, (long)(tv.tv_usec / 1000),
                     level_names[level], msg);
    if (n < 0) return;
    size_t used = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (fmt && *fmt && used + 2 < sizeof line) {
        line[used++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + used, sizeof line - used, fmt, ap);
        va_end(ap);
        if (m > 0) used += (size_t)m < sizeof line - used ? (size_t)m : sizeof line - used - 1;
        else used--; /* nothing after msg: drop the separator */
    }
    line[used] = '\0';
    fprintf(out, "%s\n", line);
    if (out == stderr) fflush(out);
}
