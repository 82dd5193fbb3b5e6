/* log: leveled log lines to stderr (foreground) or syslog (daemonized).
 * Thread-safe: each call writes one whole line. */
#ifndef MPACK_LOG_H
#define MPACK_LOG_H

enum log_level {
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* Default: stderr, level WARN, prefix "mpack". */
void log_init(const char *ident, int level, int use_syslog);
/* "error" "warn" "info" "debug" → level; -1 if unknown. */
int log_level_parse(const char *name);
int log_level(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_level() >= LOG_LVL_DEBUG)                                                  \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                       \
	} while (0)

#endif
