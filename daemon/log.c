#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int max_level = LOG_INFO;

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_level_from_string(const char *s) {
        if (strcmp(s, "debug") == 0)
                return LOG_DEBUG;
        if (strcmp(s, "info") == 0)
                return LOG_INFO;
        if (strcmp(s, "warn") == 0 || strcmp(s, "warning") == 0)
                return LOG_WARNING;
        if (strcmp(s, "error") == 0)
                return LOG_ERR;
        return -EINVAL;
}

static _printf_(3, 0) void log_write(int level, int err, const char *fmt, va_list ap) {
        /* One fprintf per message (stderr is unbuffered) keeps lines whole. */
        char msg[2048];
        int saved = errno;
        errno = err;
        vsnprintf(msg, sizeof(msg), fmt, ap);
        errno = saved;
        /* Every line gets the prefix: journald makes one entry per line,
         * and a kernel error_log text has three. */
        for (char *line = msg, *nl;; line = nl + 1) {
                nl = strchr(line, '\n');
                if (!nl) {
                        fprintf(stderr, "<%d>%s\n", level, line);
                        break;
                }
                fprintf(stderr, "<%d>%.*s\n", level, (int) (nl - line), line);
        }
}

void log_internal(int level, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        log_write(level, errno, fmt, ap);
        va_end(ap);
}

int log_internal_errno(int level, int err, const char *fmt, ...) {
        err = abs(err);
        if (level <= max_level) {
                va_list ap;
                va_start(ap, fmt);
                log_write(level, err, fmt, ap);
                va_end(ap);
        }
        return -err;
}
