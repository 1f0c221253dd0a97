/* Records of the kernel's binary ring buffer (per_cpu/cpuN/trace_pipe_raw):
 * sub-buffers ("pages") framed by the ring buffer's own lengths, decoded
 * with libtraceevent's kbuffer; each record's fields read at the offsets,
 * sizes and signedness of its event's format file (parsed by libtraceevent's
 * tep), strings by their stored length. Each record becomes a Record for
 * pipeline_process_record(), with its fields as trace_pipe would show them,
 * so both readers give the same answers. Pure code: the caller reads the
 * files and the pages. No traced process can forge a record here: what it
 * controls is bytes inside a field, never the framing. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "pipeline.h"
#include "util.h"

typedef struct RawDecoder RawDecoder;

typedef struct RawSink {
        void *userdata;
        void (*record)(void *userdata, const Record *rec);
        /* The kernel overwrote or dropped events before this page: n of
         * them, or an unknown number (counted false). */
        void (*lost)(void *userdata, int cpu, uint64_t n, bool counted);
} RawSink;

RawDecoder *rawdec_new(void);
RawDecoder *rawdec_free(RawDecoder *d); /* accepts NULL, returns NULL */

/* For tests: with on, tracepoints added after it are printed by tep's
 * print fmt interpreter instead of the direct renderer. */
void rawdec_set_tep_only(RawDecoder *d, bool on);
/* Whether probe's records are printed from their bytes without tep. */
bool rawdec_probe_is_direct(const RawDecoder *d, uint32_t probe);

/* The size of a sub-buffer as events/header_page describes it (the end of
 * its "data" field), or -EBADMSG. */
int rawdec_parse_header_page(const char *header_page_text, size_t *ret_size);

/* Adds the event of probe index `probe` (config c) from the text of its
 * format file. Returns 0, or -EBADMSG (format unreadable, or a field of c
 * missing from it) with *ret_error a new message. */
int rawdec_add_probe(RawDecoder *d, uint32_t probe, const ProbeConfig *c, const char *format_text,
                     char **ret_error);

/* Decodes one sub-buffer as read from trace_pipe_raw (len bytes) of cpu,
 * handing each record of a known event to sink->record, in order, and a
 * missed-events mark to sink->lost. Records of unknown events are counted
 * in *unknown. Returns the number of records handed over, or -EBADMSG for
 * a page that is not a ring-buffer page (nothing is handed over then). */
int rawdec_page(RawDecoder *d, const void *page, size_t len, int cpu, const RawSink *sink, uint64_t *unknown);

/* Whether probe c has a field whose bytes a traced process controls (a
 * string or ustring fetch arg, a tracepoint's char[] or __data_loc char
 * field, by the rule the binary reader hides strings with): its text in
 * trace_pipe can forge records. For tracepoints this needs the format text
 * (NULL or unparsable: unknown, taken as yes). ret_field gets the field's
 * name. */
bool probe_has_hostile_string(const ProbeConfig *c, const char *format_text, char *ret_field, size_t size);
