/* Who a pid is: its comm and tgid from /proc/PID/status, for records that
 * do not carry them (the binary reader's tracepoint records; text lines
 * the kernel printed as "<...>" or "(-------)"). A small cache keeps a
 * flood of one process from reading /proc per event: an answer, or the
 * lack of one, is reused for a second. Edge code. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct PidInfo PidInfo;

PidInfo *pidinfo_new(void);
PidInfo *pidinfo_free(PidInfo *p); /* accepts NULL */

/* A CommResolver (pipeline.h) over the cache; userdata is the PidInfo. */
bool pidinfo_resolve(void *userdata, int32_t pid, char *comm, size_t size, int32_t *tgid);

uint64_t pidinfo_proc_reads(const PidInfo *p);
