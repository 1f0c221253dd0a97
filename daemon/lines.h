/* Splits a byte stream (trace_pipe reads) into lines, in place: read()
 * straight into the buffer, complete lines are handed out without copying,
 * a partial line is kept for the next read. Lines longer than the buffer
 * are dropped whole and counted, never truncated silently. Pure code. */
#pragma once

#include "util.h"

typedef void (*LineCallback)(void *userdata, const char *line, size_t len);

typedef struct LineReader {
        char *buf;
        size_t len; /* bytes of an incomplete line kept from earlier reads */
        size_t cap;
        bool skipping;      /* inside an overlong line: drop until its newline */
        uint64_t overlong;  /* lines dropped for being longer than cap */
} LineReader;

/* cap is the buffer size and so the longest line handled. */
void linereader_init(LineReader *lr, size_t cap);
void linereader_done(LineReader *lr);

/* Where the next read() should write, and how much room is there (> 0). */
char *linereader_space(LineReader *lr, size_t *avail);
/* n bytes were written at linereader_space(): hand out every complete line
 * (without its '\n') to cb, keep the rest. */
void linereader_commit(LineReader *lr, size_t n, LineCallback cb, void *userdata);
