/* The syslog sink; see log_syslog.h. */
#include "log_syslog.h"

#include <syslog.h>

void log_syslog_open(void) { openlog("msnd", LOG_PID | LOG_NDELAY, LOG_DAEMON); }

void log_syslog_write(int severity, const char *line) {
    static const int prio[4] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
    syslog(prio[severity < 0 ? 0 : severity > 3 ? 3 : severity], "%s", line);
}

void log_syslog_close(void) { closelog(); }
