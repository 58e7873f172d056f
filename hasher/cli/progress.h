/* A one-line progress bar on stderr for long `sitr hash` batches, and one
 * in seconds of video while a video is hashed.
 *
 * Drawn only when stderr is a terminal and the work is long enough for it
 * to help; otherwise every call is a no-op.  Used from one thread at a
 * time: the printing thread, or the video decoder's while the printing
 * thread waits for it. */
#ifndef SITR_CLI_PROGRESS_H
#define SITR_CLI_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

/* Batches up to this many files get no bar: they finish before it helps. */
#define SITR_PROGRESS_MIN_FILES 20

/* A video's bar appears only after this long, so short videos hash
 * without a flash on the terminal. */
#define SITR_PROGRESS_VIDEO_DELAY_MS 300

typedef struct sitr_progress {
    FILE *f;
    int enabled, shown;
    size_t total, done;
    long long last_ms;          /* monotonic time of the last redraw */
    int seconds;                /* a video's bar: counts seconds, not files */
    double sec_done, sec_total; /* seconds of video decoded, its duration (0: unknown) */
    long long start_ms;         /* when the video's bar was set up */
} sitr_progress_t;

/* Enables the bar when f is a terminal and total > SITR_PROGRESS_MIN_FILES. */
void sitr_progress_init(sitr_progress_t *p, FILE *f, size_t total);

/* Records done files and redraws at most ten times a second (and always on
 * the last file). */
void sitr_progress_update(sitr_progress_t *p, size_t done);

/* Sets up a bar in seconds of video, enabled when f is a terminal. */
void sitr_progress_init_seconds(sitr_progress_t *p, FILE *f);

/* Records done seconds of a video of total seconds (0: unknown; then no
 * bar, only the count) and redraws at most ten times a second.  Has the
 * shape of sitr_video_progress_cb with p as ctx. */
void sitr_progress_seconds_cb(void *p, double done, double total);

/* Erases the bar so a message can be printed on a clean line; the next
 * update draws it again. */
void sitr_progress_clear(sitr_progress_t *p);

/* Erases the bar for good at the end of the batch. */
void sitr_progress_finish(sitr_progress_t *p);

#endif
