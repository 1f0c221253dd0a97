/* The conventional process_* metrics of Prometheus exporters, read from
 * /proc/self. */
#pragma once

#include "expo.h"
#include "util.h"

/* Call once at startup: remembers the start time. */
void procstat_init(void);
/* Appends process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds and
 * process_start_time_seconds. Metrics it cannot read are left out. */
void procstat_render(Expo *out);
