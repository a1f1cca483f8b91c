/* log_syslog.h - the syslog(3) sink of log.c, apart because <syslog.h>
 * defines LOG_INFO and friends, which log.h names too. */
#ifndef MSND_LOG_SYSLOG_H
#define MSND_LOG_SYSLOG_H

void log_syslog_open(void);
/* severity: 0 debug, 1 info, 2 warning, 3 error (log.h's order). */
void log_syslog_write(int severity, const char *line);
void log_syslog_close(void);

#endif
