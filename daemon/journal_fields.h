/* One event as a journal entry: the fields sd_journal_sendv() takes,
 * built from a stored event's view. Pure code; the edge (journal.c) sends
 * them.
 *
 *   MESSAGE=connect: comm=curl pid=4242 unit=demo.service addr=127.0.0.1 port=25
 *   MESSAGE_ID=8e0f217d85d24ec48855dddbd905baec   (every event of ours)
 *   PRIORITY=6  SYSLOG_IDENTIFIER=kprobe-exporter
 *   KPE_PROBE=connect  KPE_COMM=curl  KPE_PID=4242  KPE_TGID  KPE_CPU  KPE_TIME
 *   KPE_CGROUP  KPE_UNIT  KPE_USER_UNIT  KPE_CONTAINER_ID   (attributed, when known and not empty)
 *   KPE_<FIELD>=<decoded value>, per field: the name upper-cased, bytes other
 *   than [A-Z0-9_] as '_', at most 64 characters; a field whose name is
 *   taken by one before it is left out.
 *
 * Values in KPE_ fields are the bytes as decoded (the journal stores any
 * bytes); in MESSAGE they are made one printable line: control bytes
 * become '?', ill-formed UTF-8 U+FFFD, each value at most
 * JOURNAL_MESSAGE_VALUE_MAX bytes. */
#pragma once

#include "pipeline.h"
#include "ring.h"
#include "util.h"

#define JOURNAL_MESSAGE_ID "8e0f217d85d24ec48855dddbd905baec"
#define JOURNAL_MESSAGE_VALUE_MAX 256
#define JOURNAL_FIELD_NAME_MAX 64
#define JOURNAL_MAX_FIELDS (PIPELINE_MAX_FIELDS + 16)

typedef struct JournalEntry {
        Buf text;
        size_t off[JOURNAL_MAX_FIELDS], len[JOURNAL_MAX_FIELDS];
        size_t n;
        Buf scratch;
} JournalEntry;

/* Fills e (reused: call journal_entry_done() once at the end). */
void journal_entry_build(JournalEntry *e, const char *probe, const RingEventView *ev);
void journal_entry_done(JournalEntry *e);
/* Field i as "NAME=value". */
static inline StrView journal_entry_field(const JournalEntry *e, size_t i) {
        return (StrView){ e->text.data + e->off[i], e->len[i] };
}
/* The entry in journald's native protocol (one datagram to
 * /run/systemd/journal/socket): "NAME=value\n" per field, or, for a value
 * with a newline, "NAME\n", its length as 64-bit little endian, the value
 * and "\n". */
void journal_entry_serialize(const JournalEntry *e, Buf *out);
