/* Logging to stderr with sd-daemon "<N>" priority prefixes, so journald
 * keeps the priority (journalctl -p err). Only the daemon's edges log;
 * library-style modules return -errno instead. */
#pragma once

#include <syslog.h>

#include "util.h"

void log_set_max_level(int level);
int log_get_max_level(void);
/* "debug", "info", "warn"/"warning", "error"; returns -EINVAL otherwise. */
int log_level_from_string(const char *s);

void log_internal(int level, const char *fmt, ...) _printf_(2, 3);
/* Logs and returns -abs(err), for "return log_error_errno(r, ...)". The
 * message may use %m, which prints strerror(err). */
int log_internal_errno(int level, int err, const char *fmt, ...) _printf_(3, 4);

#define log_full(level, ...)                                   \
        do {                                                   \
                if ((level) <= log_get_max_level())            \
                        log_internal((level), __VA_ARGS__);    \
        } while (0)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)
#define log_error_errno(err, ...) log_internal_errno(LOG_ERR, (err), __VA_ARGS__)
#define log_warning_errno(err, ...) log_internal_errno(LOG_WARNING, (err), __VA_ARGS__)
