/* log.h - structured (logfmt) log lines: `ts=... level=info msg="..." k=v`.
 *
 * One process-wide sink:
 *   stderr   logfmt lines;
 *   file     logfmt lines appended to --log-file; SIGHUP reopens it;
 *   journal  stderr read by systemd-journald: each line starts with the
 *            "<N>" priority prefix journald understands (no ts=: the
 *            journal stamps every line itself);
 *   syslog   syslog(3), facility daemon, with the matching priority.
 * "auto" is journal when stderr is the stream systemd named in
 * JOURNAL_STREAM, the file when --log-file is given, stderr otherwise.
 * Passwords and challenge answers are never passed to these functions. */
#ifndef MSND_LOG_H
#define MSND_LOG_H

#include <stddef.h>

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* sink: auto, stderr, journal or syslog (NULL or "" = auto); path: the
 * log file, or NULL/"". Returns 0, or -1 with the reason in err (e.g.
 * "cannot open log file X: Permission denied"). */
int log_open(const char *sink, const char *path, log_level level, char *err, size_t errcap);
/* Reopen the log file (rotation); keeps the old one on failure (errno
 * set). Nothing to do for the other sinks. */
int log_reopen(void);
/* Lines go to the process's stderr (stderr or journal sink). */
int log_is_stderr(void);
void log_close(void);
int log_level_parse(const char *s, log_level *out);
int log_enabled(log_level level);

/* fmt is the rest of the line after msg: `key=value ...` pairs. */
void log_msg(log_level level, const char *msg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define LOGD(msg, ...) \
    do { \
        if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, msg, __VA_ARGS__); \
    } while (0)
#define LOGI(msg, ...) log_msg(LOG_INFO, msg, __VA_ARGS__)
#define LOGW(msg, ...) log_msg(LOG_WARN, msg, __VA_ARGS__)
#define LOGE(msg, ...) log_msg(LOG_ERROR, msg, __VA_ARGS__)

/* Make a value safe to print inside double quotes (no quotes, no control
 * bytes). A value longer than cap - 1 bytes is shown as its start, cut at a
 * UTF-8 character boundary, followed by "...". Returns dst. */
const char *log_quote(const char *src, size_t n, char *dst, size_t cap);

#endif
