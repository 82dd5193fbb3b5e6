/* log: leveled log lines to stderr or syslog. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static const char *log_ident = "mpack";
static int log_cur = LOG_LVL_WARN;
static int log_syslog;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

void log_init(const char *ident, int level, int use_syslog)
{
	if (ident)
		log_ident = ident;
	if (level >= LOG_LVL_ERROR && level <= LOG_LVL_DEBUG)
		log_cur = level;
	log_syslog = use_syslog;
	if (use_syslog)
		openlog(log_ident, LOG_PID, LOG_DAEMON);
}

int log_level_parse(const char *name)
{
	int i;

	for (i = 0; i <= LOG_LVL_DEBUG; i++)
		if (!strcmp(name, level_names[i]))
			return i;
	return -1;
}

int log_level(void)
{
	return log_cur;
}

void log_msg(int level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	struct timespec ts;
	struct tm tm;

	if (level > log_cur || level < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_syslog) {
		syslog(syslog_prio[level], "%s", line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: %s\n", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		log_ident, level_names[level], line);
}
