/* Who a pid is: its comm and tgid from /proc/PID/status, for records that
 * do not carry them (the binary reader's tracepoint records; text lines
 * the kernel printed as "<...>" or "(-------)"). A small cache keeps a
 * flood of one process from reading /proc per event: an answer, or the
 * lack of one, is reused for a second. Edge code. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attrib.h"
#include "util.h"

typedef struct PidInfo PidInfo;

PidInfo *pidinfo_new(void);
PidInfo *pidinfo_free(PidInfo *p); /* accepts NULL */

/* A CommResolver (pipeline.h) over the cache; userdata is the PidInfo. */
bool pidinfo_resolve(void *userdata, int32_t pid, char *comm, size_t size, int32_t *tgid);
/* A CommForget (pipeline.h): pid exec'd, its cached comm is stale. */
void pidinfo_forget(void *userdata, int32_t pid);

uint64_t pidinfo_proc_reads(const PidInfo *p);

/* Attribution's edge: the hierarchy whose paths are followed, read from
 * /proc/self/cgroup (cgroup_pick_hierarchy()): its id, or -errno; *what
 * gets a description for the log ("name=systemd (v1, hierarchy 9)"). */
int pidinfo_cgroup_hierarchy(char *what, size_t size);
/* A CgroupResolver (pipeline.h) over /proc/PID/cgroup for hierarchy id
 * (pidinfo_set_hierarchy), cached for a second like the comm. */
void pidinfo_set_hierarchy(PidInfo *p, int id);
bool pidinfo_resolve_cgroup(void *userdata, int32_t pid, Buf *path, int32_t *tgid);
/* Reads every task of /proc into the table: returns how many. */
size_t pidinfo_seed(PidInfo *p, AttribTable *t);
/* Whether task tid exists (for attrib_prune). */
bool pidinfo_task_alive(void *userdata, int32_t tid);
