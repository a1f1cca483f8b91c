/* log.h - structured (logfmt) log lines: `ts=... level=info msg="..." k=v`.
 *
 * One process-wide sink: stderr or a file that SIGHUP reopens. Passwords
 * and challenge answers are never passed to these functions. */
#ifndef MSND_LOG_H
#define MSND_LOG_H

#include <stddef.h>

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* path NULL or "" = stderr. Returns 0 or -1 (errno set). */
int log_open(const char *path, log_level level);
/* Reopen the same path (log rotation); keeps the old sink on failure. */
int log_reopen(void);
void log_close(void);
int log_level_parse(const char *s, log_level *out);
int log_enabled(log_level level);

/* fmt is the rest of the line after msg: `key=value ...` pairs. */
void log_msg(log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOGD(msg, ...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, msg, __VA_ARGS__); } while (0)
#define LOGI(msg, ...) log_msg(LOG_INFO, msg, __VA_ARGS__)
#define LOGW(msg, ...) log_msg(LOG_WARN, msg, __VA_ARGS__)
#define LOGE(msg, ...) log_msg(LOG_ERROR, msg, __VA_ARGS__)

/* Make a value safe to print inside double quotes (no quotes, no control
 * bytes, bounded). Returns dst. */
const char *log_quote(const char *src, size_t n, char *dst, size_t cap);

#endif
