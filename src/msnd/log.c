/* Structured logging; see log.h. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "log_syslog.h"

#include <msnp/util.h>

typedef enum { SINK_STDERR = 0, SINK_FILE, SINK_JOURNAL, SINK_SYSLOG } sink_kind;

static FILE *sink;
static char *sink_path;
static sink_kind kind = SINK_STDERR;
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

/* systemd sets JOURNAL_STREAM=dev:ino for the stream it connected to
 * journald; stderr is that stream unless it was redirected since. */
static int stderr_is_journal(void) {
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) != 0) return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int log_open(const char *sink_name, const char *path, log_level level, char *err, size_t errcap) {
    min_level = level;
    free(sink_path);
    sink_path = NULL;
    const char *want = sink_name && *sink_name ? sink_name : "auto";
    int has_file = path && *path;
    if (!strcmp(want, "syslog")) kind = SINK_SYSLOG;
    else if (!strcmp(want, "journal")) kind = SINK_JOURNAL;
    else if (!strcmp(want, "stderr")) kind = SINK_STDERR;
    else if (!strcmp(want, "auto")) kind = has_file ? SINK_FILE : stderr_is_journal() ? SINK_JOURNAL : SINK_STDERR;
    else {
        snprintf(err, errcap, "unknown log sink '%s' (auto, stderr, journal or syslog)", want);
        return -1;
    }
    if (has_file && kind != SINK_FILE) {
        snprintf(err, errcap, "--log-file goes with --log auto, not --log %s", want);
        return -1;
    }
    if (kind == SINK_SYSLOG) log_syslog_open();
    if (kind != SINK_FILE) {
        sink = stderr;
        return 0;
    }
    FILE *f = fopen(path, "a");
    if (!f) {
        snprintf(err, errcap, "cannot open log file %s: %s", path, strerror(errno));
        return -1;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    if (sink && sink != stderr) fclose(sink);
    sink = f;
    sink_path = strdup(path);
    if (!sink_path) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    return 0;
}

int log_is_stderr(void) { return kind == SINK_STDERR || kind == SINK_JOURNAL; }

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
    if (kind == SINK_SYSLOG) log_syslog_close();
    if (sink && sink != stderr) fclose(sink);
    sink = NULL;
    free(sink_path);
    sink_path = NULL;
}

int log_enabled(log_level level) { return level >= min_level; }

const char *log_quote(const char *src, size_t n, char *dst, size_t cap) {
    if (cap == 0) return dst;
    size_t take = n;
    int cut = 0;
    if (n + 1 > cap) {
        /* too long for its place in the line: the start of it, ended at a
         * character boundary and marked, never passed off as the value */
        take = msnp_utf8_prefix(src, n, cap > 4 ? cap - 4 : 0);
        cut = cap > 4;
    }
    size_t o = 0;
    for (size_t i = 0; i < take; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[o++] = (c < 0x20 || c == 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
    }
    if (cut) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return dst;
}

void log_msg(log_level level, const char *msg, const char *fmt, ...) {
    if (!log_enabled(level)) return;
    FILE *out = sink ? sink : stderr;
    char line[2048];
    int n;
    if (kind == SINK_FILE || kind == SINK_STDERR) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        char ts[40];
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
        n = snprintf(line, sizeof line, "ts=%s.%03ldZ level=%s msg=\"%s\"", ts, (long)(tv.tv_usec / 1000),
                     level_names[level], msg);
    } else {
        /* The journal and syslog stamp lines themselves. */
        static const char *const prefix[4] = {"<7>", "<6>", "<4>", "<3>"};
        n = snprintf(line, sizeof line, "%slevel=%s msg=\"%s\"", kind == SINK_JOURNAL ? prefix[level] : "",
                     level_names[level], msg);
    }
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
    if (kind == SINK_SYSLOG) {
        log_syslog_write((int)level, line);
        return;
    }
    fprintf(out, "%s\n", line);
    if (out == stderr) fflush(out);
}
