/* Records of the kernel's binary ring buffer (per_cpu/cpuN/trace_pipe_raw):
 * sub-buffers ("pages") framed by the ring buffer's own lengths, decoded
 * with libtraceevent's kbuffer; each record's fields read at the offsets,
 * sizes and signedness of its event's format file (parsed by libtraceevent's
 * tep), strings by their stored length. Each record becomes a Record for
 * pipeline_process_record(), with its fields as trace_pipe would show them,
 * so both readers give the same answers; the records of all CPUs are
 * merged by time (RawMerge). Pure code: the caller reads the files and the
 * pages. No traced process can forge a record here: what it controls is
 * bytes inside a field, never the framing. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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
 * a page that is not a ring-buffer page (nothing is handed over then).
 * The same as rawdec_cursor_load() and rawdec_cursor_emit_until() to the
 * end, on a cursor of the decoder's own. */
int rawdec_page(RawDecoder *d, const void *page, size_t len, int cpu, const RawSink *sink, uint64_t *unknown);

/* A position in one CPU's page, record by record: what the binary reader
 * keeps per CPU to merge the CPUs' records by time. It holds no copy of
 * the page: the page must stay unchanged while the cursor holds a record. */
typedef struct RawCursor RawCursor;

RawCursor *rawdec_cursor_new(void);
RawCursor *rawdec_cursor_free(RawCursor *c); /* accepts NULL, returns NULL */

/* Positions c on the first record of a page (len bytes, as read from cpu's
 * trace_pipe_raw); its missed-events mark goes to sink->lost now. Returns
 * 0, or -EBADMSG for a page that is not a ring-buffer page (c then holds
 * nothing). */
int rawdec_cursor_load(RawCursor *c, const void *page, size_t len, int cpu, const RawSink *sink);

/* Whether c holds a record (of any event, known or not); its timestamp in
 * *ret_ts (the trace clock's, in ns for mono and global). */
bool rawdec_cursor_peek_ts(const RawCursor *c, uint64_t *ret_ts);

/* Hands c's records over in order, as rawdec_page() does, while their
 * timestamp is at most limit (UINT64_MAX: to the end of the page), and
 * stops on the first later one, which c then holds. Returns the number
 * handed over (records of unknown events are counted in *unknown). */
size_t rawdec_cursor_emit_until(RawDecoder *d, RawCursor *c, uint64_t limit, const RawSink *sink, uint64_t *unknown);

/* Hands over c's record (if it holds one) and moves to the next: 1 if a
 * record went to the sink, 0 if none (or an unknown event's). */
int rawdec_cursor_emit(RawDecoder *d, RawCursor *c, const RawSink *sink, uint64_t *unknown);

/* The records of every CPU handed over in time order, merged the way the
 * kernel's trace_pipe merges them: a cursor per CPU on its current page
 * (kept from pass to pass), and a pass repeatedly hands over the record
 * with the smallest timestamp among the CPUs whose cursor holds one (equal
 * times: the lower CPU first; one CPU's records keep their order). A pass
 * starts by asking the CPUs whose cursor holds nothing (one poll for all,
 * then a read of each that has something); a cursor that runs out is
 * refilled at once with its CPU's next page. A CPU whose buffer is empty
 * is out of the pass: what it records later is newer than what was read
 * before it was asked, but not than a page of another CPU read after that,
 * so the out CPUs are asked again (a read for one, a poll for several)
 * after every page read, before that page's records are handed over. A CPU whose budget of pages is spent ends the pass: its
 * unread pages may hold records older than the other cursors' (those wait
 * for the next pass). What stays out of order is what trace_pipe gets wrong
 * too: a record the kernel commits after a later-stamped one of another
 * CPU was read. The caller does the reading, through RawMergeIO. */
typedef struct RawMerge RawMerge;

typedef struct RawMergeIO {
        void *userdata;
        /* Reads CPU slot i's next page into buf (size bytes): returns its
         * length, 0 when the CPU has nothing now, or -errno. */
        ssize_t (*read)(void *userdata, size_t i, void *buf, size_t size);
        /* Which of the slots idx[0..n) have something to read now (a poll
         * with no wait): ready[k] for idx[k]. Returns 0, or -errno to have
         * them all read instead. NULL: they are read. */
        int (*poll)(void *userdata, const size_t *idx, bool *ready, size_t n);
} RawMergeIO;

/* What a pass did. */
typedef struct RawPass {
        uint64_t pages, bytes, bad_pages; /* read; not ring-buffer pages */
        size_t handed;                    /* records handed over */
        bool stopped;                     /* a budget ended it: cursors may hold records */
        ssize_t failed;                   /* the slot whose read failed, or -1 */
} RawPass;

/* n slots of CPUs cpus[i] (none read until rawmerge_set_open), of pages
 * of page_size bytes. */
RawMerge *rawmerge_new(size_t n, const unsigned *cpus, size_t page_size);
RawMerge *rawmerge_free(RawMerge *m); /* accepts NULL, returns NULL */
void rawmerge_set_open(RawMerge *m, size_t i, bool open);

/* A pass: hands over what the cursors hold and what the CPUs' buffers
 * hold, merged, reading at most budget pages of each CPU. Returns 0, or
 * the -errno of a failed read (ret->failed says whose). */
int rawmerge_pass(RawMerge *m, RawDecoder *d, const RawMergeIO *io, unsigned budget, const RawSink *sink,
                  uint64_t *unknown, RawPass *ret);
/* Hands over every record the cursors hold, merged, reading nothing. */
size_t rawmerge_flush(RawMerge *m, RawDecoder *d, const RawSink *sink, uint64_t *unknown);
/* Whether a cursor holds a record. */
bool rawmerge_holds(const RawMerge *m);

/* Whether probe c has a field whose bytes a traced process controls (a
 * string or ustring fetch arg, a tracepoint's char[] or __data_loc char
 * field, by the rule the binary reader hides strings with): its text in
 * trace_pipe can forge records. For tracepoints this needs the format text
 * (NULL or unparsable: unknown, taken as yes). ret_field gets the field's
 * name. */
bool probe_has_hostile_string(const ProbeConfig *c, const char *format_text, char *ret_field, size_t size);
