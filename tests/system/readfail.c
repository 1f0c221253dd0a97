/* LD_PRELOAD shim for test-read-error.sh: read() on a trace_pipe or a
 * trace_pipe_raw fails with EIO once the file named by $KPE_READFAIL
 * exists. Everything else reads as usual. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ssize_t read(int fd, void *buf, size_t n) {
        static ssize_t (*real_read)(int, void *, size_t);
        if (!real_read)
                real_read = (ssize_t (*)(int, void *, size_t)) dlsym(RTLD_NEXT, "read");

        const char *flag = getenv("KPE_READFAIL");
        if (flag && access(flag, F_OK) == 0) {
                char link[64], target[4096];
                snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
                ssize_t k = readlink(link, target, sizeof(target) - 1);
                if (k > 0) {
                        target[k] = 0;
                        size_t len = strlen(target);
                        if ((len >= 10 && strcmp(target + len - 10, "trace_pipe") == 0) ||
                            (len >= 14 && strcmp(target + len - 14, "trace_pipe_raw") == 0)) {
                                errno = EIO;
                                return -1;
                        }
                }
        }
        return real_read(fd, buf, n);
}
