#include "procstat.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "expo.h"

static double start_time;

void procstat_init(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        start_time = (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double timeval_seconds(struct timeval tv) {
        return (double) tv.tv_sec + (double) tv.tv_usec / 1e6;
}

static int count_open_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return -1;
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1; /* the directory's own fd */
}

static void put_gauge(Expo *out, const char *name, const char *type, const char *help, double v) {
        expo_put_header(out, name, type, help);
        expo_put_sample_double(out, name, NULL, NULL, 0, v);
}

void procstat_render(Expo *out) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0)
                put_gauge(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
                          timeval_seconds(ru.ru_utime) + timeval_seconds(ru.ru_stime));

        FILE *f = fopen("/proc/self/statm", "re");
        if (f) {
                unsigned long long size, resident;
                if (fscanf(f, "%llu %llu", &size, &resident) == 2) {
                        double page = (double) sysconf(_SC_PAGESIZE);
                        put_gauge(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                                  (double) resident * page);
                        put_gauge(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                                  (double) size * page);
                }
                fclose(f);
        }

        int fds = count_open_fds();
        if (fds >= 0)
                put_gauge(out, "process_open_fds", "gauge", "Number of open file descriptors.", fds);
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
                put_gauge(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                          (double) rl.rlim_cur);
        put_gauge(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
                  start_time);
}
