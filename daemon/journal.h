/* Events into the journal (probes with journal: true): each admitted by
 * its probe's journal_rate, built by journal_fields.c, and sent as one
 * datagram of journald's native protocol, without waiting: a journald
 * that is slow or gone costs an entry (counted), never the loop. Edge
 * code. */
#pragma once

#include "pipeline.h"

typedef struct Journal Journal;

/* socket_path: NULL for journald's (/run/systemd/journal/socket). */
Journal *journal_new(const char *socket_path);
Journal *journal_free(Journal *j); /* accepts NULL */
/* A JournalHook (pipeline.h); userdata is the Journal. */
void journal_hook(void *userdata, Probe *pr, const RingEventView *ev);
