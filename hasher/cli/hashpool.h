/* The worker pool that hashes a file list for `sitr hash` and the `sitr
 * case` commands: N threads hash files while the calling thread receives
 * the results strictly in list order.
 *
 * The callback runs on the calling thread only, one file at a time, in the
 * order of the list, so it may print and keep state without locks. */
#ifndef SITR_CLI_HASHPOOL_H
#define SITR_CLI_HASHPOOL_H

#include <stddef.h>
#include <sitr/err.h>
#include <sitr/image.h>

#include "progress.h"
#include "walk.h"

#define SITR_HASHPOOL_MAX_JOBS 256

/* One finished file, borrowed for the duration of the callback. */
typedef struct sitr_hashpool_result {
    size_t index;                  /* position in the list */
    const sitr_walk_entry_t *file; /* the list's entry */
    int rc;                        /* 0 hashed, or a negative SITR_E* code */
    const sitr_image_t *img;       /* valid when rc == 0 */
    const char *msg;               /* when rc < 0: a sentence without the path */
    sitr_progress_t *progress;     /* clear it before printing a message */
} sitr_hashpool_result_t;

/* Returns 0 to go on, or a negative code to stop the batch (the pool then
 * returns that code after its workers finish their current file). */
typedef int (*sitr_hashpool_cb)(void *ctx, const sitr_hashpool_result_t *r);

/* Hashes every entry of files (borrowed, read-only while this runs) with
 * `jobs` threads and flags (SITR_PDQ_WANT_DIHEDRAL) and hands each result
 * to cb in list order.  A progress bar is drawn on stderr for long batches
 * on a terminal.  sitr_image_init() must have been called.  Returns 0, the
 * callback's stopping code, or SITR_ENOMEM / SITR_EINTERNAL when the pool
 * could not start (a message is printed then). */
SITR_MUST_CHECK int sitr_hashpool_run(const sitr_walk_list_t *files, unsigned flags, int jobs,
                                      sitr_hashpool_cb cb, void *ctx);

/* The number of online CPUs, within 1..SITR_HASHPOOL_MAX_JOBS. */
int sitr_hashpool_default_jobs(void);

/* Parses a --jobs value: a whole number from 1 to SITR_HASHPOOL_MAX_JOBS.
 * 0, or SITR_EINVAL. */
SITR_MUST_CHECK int sitr_hashpool_parse_jobs(const char *s, int *out);

#endif
