/* A one-line progress bar on stderr for long `sitr hash` batches.
 *
 * Drawn only when stderr is a terminal and the batch is large enough for
 * it to help; otherwise every call is a no-op.  Used from the printing
 * thread only. */
#ifndef SITR_CLI_PROGRESS_H
#define SITR_CLI_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

/* Batches up to this many files get no bar: they finish before it helps. */
#define SITR_PROGRESS_MIN_FILES 20

typedef struct sitr_progress {
    FILE *f;
    int enabled, shown;
    size_t total, done;
    long long last_ms; /* monotonic time of the last redraw */
} sitr_progress_t;

/* Enables the bar when f is a terminal and total > SITR_PROGRESS_MIN_FILES. */
void sitr_progress_init(sitr_progress_t *p, FILE *f, size_t total);

/* Records done files and redraws at most ten times a second (and always on
 * the last file). */
void sitr_progress_update(sitr_progress_t *p, size_t done);

/* Erases the bar so a message can be printed on a clean line; the next
 * update draws it again. */
void sitr_progress_clear(sitr_progress_t *p);

/* Erases the bar for good at the end of the batch. */
void sitr_progress_finish(sitr_progress_t *p);

#endif
