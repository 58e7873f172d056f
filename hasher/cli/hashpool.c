/* Hashing a file list on a pool of worker threads (contract in hashpool.h).
 *
 * The calling thread starts the workers, then hands results to the callback
 * itself.  Results leave strictly in list order through a reorder buffer: a
 * ring of `window` slots, where file i lives in slot i % window.  A worker
 * may only take file i while i < next_print + window, so memory stays
 * bounded however large the batch, and the first result is handed over as
 * soon as the first file is done.  All ring state is guarded by one mutex;
 * the hashing itself runs unlocked.  One bad file never stops the batch:
 * its failure is handed over in its place. */
#include "hashpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct slot {
    int ready; /* set by a worker, cleared by the calling thread */
    int rc;
    sitr_image_t img;
    sitr_err_t err;
} slot_t;

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t done_cv;  /* a slot became ready: the calling thread waits on it */
    pthread_cond_t space_cv; /* the window moved or the batch stops: workers wait */
    const sitr_walk_list_t *files;
    unsigned flags;
    size_t window, next_take, next_print;
    int stop; /* the callback gave up */
    slot_t *slots;
} pool_t;

int sitr_hashpool_parse_jobs(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > SITR_HASHPOOL_MAX_JOBS)
        return SITR_EINVAL;
    *out = (int)v;
    return 0;
}

int sitr_hashpool_default_jobs(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > SITR_HASHPOOL_MAX_JOBS ? SITR_HASHPOOL_MAX_JOBS : (int)n;
}

static void *worker_main(void *arg)
{
    pool_t *p = arg;
    sitr_image_limits_t lim;
    sitr_image_limits_default(&lim);

    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->next_take < p->files->n && p->next_take >= p->next_print + p->window)
            pthread_cond_wait(&p->space_cv, &p->mu);
        if (p->stop || p->next_take >= p->files->n)
            break;
        size_t i = p->next_take++;
        pthread_mutex_unlock(&p->mu);

        /* Hash into a local slot so the lock is not held while decoding. */
        const sitr_walk_entry_t *e = &p->files->v[i];
        slot_t local;
        memset(&local, 0, sizeof(local));
        if (e->err < 0)
            local.rc = e->err; /* the walk's message is handed over instead */
        else
            local.rc = sitr_image_hash_file(e->path, p->flags, &lim, &local.img, &local.err);

        pthread_mutex_lock(&p->mu);
        slot_t *s = &p->slots[i % p->window];
        *s = local;
        s->ready = 1;
        if (i == p->next_print)
            pthread_cond_signal(&p->done_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void stop_pool(pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->space_cv);
    pthread_mutex_unlock(&p->mu);
}

int sitr_hashpool_run(const sitr_walk_list_t *files, unsigned flags, int jobs, sitr_hashpool_cb cb,
                      void *ctx)
{
    if (files->n == 0)
        return 0;
    pool_t p;
    memset(&p, 0, sizeof(p));
    p.files = files;
    p.flags = flags;
    if ((size_t)jobs > files->n)
        jobs = (int)files->n;
    if (jobs < 1)
        jobs = 1;
    /* A few slots per worker let fast files run ahead of one slow file
     * without letting the buffer grow with the batch. */
    p.window = (size_t)jobs * 4;
    p.slots = calloc(p.window, sizeof(*p.slots));
    pthread_t *tids = calloc((size_t)jobs, sizeof(*tids));
    if (p.slots == NULL || tids == NULL) {
        free(p.slots);
        free(tids);
        fputs("sitr: out of memory\n", stderr);
        return SITR_ENOMEM;
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.done_cv, NULL);
    pthread_cond_init(&p.space_cv, NULL);

    int started = 0, rc = 0;
    for (; started < jobs; started++) {
        int e = pthread_create(&tids[started], NULL, worker_main, &p);
        if (e != 0) {
            if (started == 0) {
                fprintf(stderr, "sitr: cannot start a worker thread: %s\n", strerror(e));
                rc = SITR_EINTERNAL;
                p.stop = 1;
            }
            break; /* fewer workers still finish the batch */
        }
    }

    sitr_progress_t prog;
    sitr_progress_init(&prog, stderr, files->n);
    for (size_t i = 0; i < files->n && !p.stop; i++) {
        slot_t s;
        pthread_mutex_lock(&p.mu);
        slot_t *slot = &p.slots[i % p.window];
        while (!slot->ready)
            pthread_cond_wait(&p.done_cv, &p.mu);
        s = *slot;
        slot->ready = 0;
        p.next_print = i + 1;
        pthread_cond_broadcast(&p.space_cv);
        pthread_mutex_unlock(&p.mu);

        const sitr_walk_entry_t *e = &files->v[i];
        sitr_hashpool_result_t r = {
            .index = i, .file = e, .rc = s.rc, .img = &s.img, .progress = &prog};
        if (s.rc < 0)
            r.msg = e->err < 0 && e->msg != NULL ? e->msg
                    : s.err.msg[0] != '\0'       ? s.err.msg
                                                 : sitr_strerror(s.rc);
        int crc = cb(ctx, &r);
        if (crc < 0) {
            rc = crc;
            stop_pool(&p);
            break;
        }
        sitr_progress_update(&prog, i + 1);
    }
    sitr_progress_finish(&prog);

    for (int t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    pthread_cond_destroy(&p.space_cv);
    pthread_cond_destroy(&p.done_cv);
    pthread_mutex_destroy(&p.mu);
    free(tids);
    free(p.slots);
    return rc;
}
