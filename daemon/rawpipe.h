/* The binary reader: one trace_pipe_raw fd per CPU of our instance, each an
 * io source of the sd-event loop; the pages it reads are decoded by
 * rawrec.c into records for the running pipeline, the CPUs' records merged
 * in time order (a wakeup of any CPU reads them all). Edge code. */
#pragma once

#include <systemd/sd-event.h>

#include "pipeline.h"
#include "registry.h"
#include "tfs.h"

typedef struct RawPipe RawPipe;

typedef struct RawPipeHooks {
        void *userdata;
        Pipeline **pipeline; /* the running pipeline (replaced by reloads) */
        void (*read_some)(void *userdata);    /* new records went into the pipeline */
        void (*failed)(void *userdata, int err); /* a read failed: reading stops */
} RawPipeHooks;

/* Opens every CPU's trace_pipe_raw of our instance (CPUs whose buffer
 * cannot be opened yet are tried again by rawpipe_poll_cpus), sets the
 * instance's buffer_percent to 0 (wake on any data) and watches them.
 * Returns 0 or -errno (logged). */
int rawpipe_new(sd_event *e, Tracefs *t, const RawPipeHooks *hooks, RawPipe **ret);
RawPipe *rawpipe_free(RawPipe *r); /* closes the fds; accepts NULL */

/* Learns the events of the registry's registered probes (their format
 * files), as indices of the pipeline they run in: after start and after
 * each reload. A probe whose format cannot be read is logged and its
 * records are counted as unparsable. */
void rawpipe_learn(RawPipe *r, const Registry *reg);

/* Hands over now what the CPUs' buffers hold, merged, reading up to
 * max_pages from each CPU, and then whatever the cursors still hold (a
 * reload's drain: nothing stays for the next pipeline). */
void rawpipe_drain(RawPipe *r, unsigned max_pages);
/* Opens CPUs that could not be opened before (they came online). */
void rawpipe_poll_cpus(RawPipe *r);

uint64_t rawpipe_bytes(const RawPipe *r);
uint64_t rawpipe_unknown_records(const RawPipe *r);
/* CPUs read / CPUs of the instance. */
void rawpipe_cpus(const RawPipe *r, unsigned *open, unsigned *all);
