/* A main() for the fuzz targets where libFuzzer is not linked (gcc, or a
 * build without -fsanitize=fuzzer): runs every file of the directories (or
 * the files) given through LLVMFuzzerTestOneInput once. So each seed and
 * each crash ever found stays a regression test of the normal build.
 * Each input is copied into a heap block of exactly its size, as libFuzzer
 * does, so a sanitized build catches reads past its end. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/* Inputs larger than this are not test inputs (-max_len is at most 64 KiB). */
#define REPLAY_MAX_INPUT (1u << 20)

static int read_all(int fd, uint8_t **ret, size_t *ret_len) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        if (st.st_size > (off_t) REPLAY_MAX_INPUT)
                return -EFBIG;

        size_t cap = (size_t) st.st_size, len = 0;
        uint8_t *p = xmalloc(cap ? cap : 1);
        while (len < cap) {
                ssize_t k = read(fd, p + len, cap - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        int r = k < 0 ? -errno : -EIO; /* shrank under us */
                        free(p);
                        return r;
                }
                len += (size_t) k;
        }
        *ret = p;
        *ret_len = len;
        return 0;
}

static int run_file(int dirfd, const char *name, const char *shown) {
        int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                fprintf(stderr, "%s: %s\n", shown, strerror(errno));
                return -errno;
        }
        uint8_t *data = NULL;
        size_t len = 0;
        int r = read_all(fd, &data, &len);
        close(fd);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", shown, strerror(-r));
                return r;
        }
        /* Named first, so a crash's output says which input it was. */
        fprintf(stderr, "replay %s (%zu bytes)\n", shown, len);
        (void) LLVMFuzzerTestOneInput(data, len);
        free(data);
        return 0;
}

static int filter_visible(const struct dirent *de) {
        return de->d_name[0] != '.';
}

/* Returns the number of inputs run, or -errno. */
static int run_dir(const char *path) {
        struct dirent **list = NULL;
        int n = scandir(path, &list, filter_visible, alphasort);
        if (n < 0)
                return -errno;

        int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                int r = -errno;
                for (int i = 0; i < n; i++)
                        free(list[i]);
                free(list);
                return r;
        }
        int count = 0, r = 0;
        for (int i = 0; i < n; i++) {
                char shown[4096];
                snprintf(shown, sizeof(shown), "%s/%s", path, list[i]->d_name);
                if (r >= 0) {
                        r = run_file(dirfd, list[i]->d_name, shown);
                        if (r >= 0)
                                count++;
                }
                free(list[i]);
        }
        free(list);
        close(dirfd);
        return r < 0 ? r : count;
}

int main(int argc, char *argv[]) {
        int total = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;
                int r;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        return 1;
                }
                if (S_ISDIR(st.st_mode)) {
                        r = run_dir(argv[i]);
                        /* An empty corpus is a broken test, not a pass. */
                        if (r == 0) {
                                fprintf(stderr, "%s: no inputs\n", argv[i]);
                                return 1;
                        }
                } else
                        r = run_file(AT_FDCWD, argv[i], argv[i]) < 0 ? -EIO : 1;
                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(-r));
                        return 1;
                }
                total += r;
        }
        printf("%d inputs ran clean\n", total);
        return 0;
}
