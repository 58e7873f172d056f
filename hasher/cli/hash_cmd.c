/* `sitr hash [--format text|csv|jsonl] [--dihedral] [--jobs N] PATH...`
 *
 * The main thread parses the arguments, walks the paths into a file list
 * (walk.c), then starts a pool of worker threads that hash files and
 * prints the results itself.  Results leave strictly in input order
 * through a reorder buffer: a ring of `window` slots, where file i lives in
 * slot i % window.  A worker may only take file i while i < next_print +
 * window, so memory stays bounded however large the batch, and the first
 * line is printed as soon as the first file is done.  All ring state is
 * guarded by one mutex; the hashing itself runs unlocked.
 *
 * One bad file never stops the batch: its error goes to stderr (and into
 * the JSONL stream) in its place, and the exit status says whether any
 * file failed. */
#include "hash_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sitr/image.h>
#include <sitr/pdq.h>

#include "output.h"
#include "progress.h"
#include "walk.h"

#define MAX_JOBS 256

typedef struct slot {
    int ready; /* set by a worker, cleared by the printer */
    int rc;
    sitr_image_t img;
    sitr_err_t err;
} slot_t;

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t done_cv;  /* a slot became ready: the printer waits on it */
    pthread_cond_t space_cv; /* the window moved or the batch stops: workers wait */
    const sitr_walk_list_t *files;
    unsigned flags;
    size_t window, next_take, next_print;
    int stop; /* the printer gave up (output failed) */
    slot_t *slots;
} pool_t;

void sitr_hash_cmd_usage(FILE *f)
{
    fputs("Usage: sitr hash [OPTIONS] PATH...\n"
          "\n"
          "Compute the PDQ perceptual hash (Meta's 256-bit image hash) of image files.\n"
          "Everything happens on this computer: no image leaves it.  Folders are hashed\n"
          "recursively, in name order; hidden entries (names starting with '.') inside\n"
          "a folder are skipped.  Formats: JPEG, PNG, WebP, GIF, TIFF, HEIC/AVIF.\n"
          "Paths are printed as given, joined with the path inside a folder argument.\n"
          "\n"
          "Options:\n"
          "  -f, --format FORMAT  text (default), csv or jsonl\n"
          "  -d, --dihedral       also print the 8 hashes of the rotated and flipped image\n"
          "  -j, --jobs N         hash N files at a time (default: the number of CPUs)\n"
          "  -h, --help           show this help\n"
          "\n"
          "Output, one record per file, in the order of the arguments:\n"
          "  text   <pdq>,<quality>,<path>      (the line of Meta's pdq-photo-hasher)\n"
          "         with --dihedral:\n"
          "         <orig>,<rot90>,<rot180>,<rot270>,<flipx>,<flipy>,<flipplus1>,<flipminus1>,\n"
          "         <quality>,<path>            (one line; orig is the plain hash)\n"
          "  csv    a header, then path,pdq,quality,md5,sha256; with --dihedral 8 more\n"
          "         columns orig,rot90,rot180,rot270,flipx,flipy,flipplus1,flipminus1\n"
          "  jsonl  {\"path\",\"pdq\",\"quality\",\"dihedral\":[8 hashes],\"md5\",\"sha256\"}, or\n"
          "         {\"path\",\"error\":{\"code\",\"message\"}} for a file that failed\n"
          "  pdq is 64 hex digits, quality 0..100.  Dihedral order (Meta's): orig, rot90\n"
          "  (90 degrees counter-clockwise), rot180, rot270, flipx (top<->bottom), flipy\n"
          "  (left<->right), flipplus1 (transpose), flipminus1 (anti-transpose).\n"
          "\n"
          "A hash of quality below 50 is printed with a warning on stderr: the image is\n"
          "too featureless to match safely.  A file that cannot be hashed is reported on\n"
          "stderr and the others are still hashed.\n"
          "\n"
          "Exit status: 0 every file hashed, 1 some file failed, 2 usage error.\n",
          f);
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sitr hash: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'sitr hash --help'.\n", stderr);
    return 2;
}

static int parse_jobs(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > MAX_JOBS)
        return -1;
    *out = (int)v;
    return 0;
}

static int default_jobs(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > MAX_JOBS ? MAX_JOBS : (int)n;
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
            local.rc = e->err; /* the printer reports the walk's message */
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

/* Reports one finished file.  Returns 1 if it failed, 0 if it was hashed,
 * or a negative code if the output could not be written. */
static int report(const sitr_output_t *out, sitr_progress_t *prog, const sitr_walk_entry_t *e,
                  const slot_t *s)
{
    if (s->rc < 0) {
        const char *msg = e->err < 0 && e->msg != NULL ? e->msg
                          : s->err.msg[0] != '\0'      ? s->err.msg
                                                       : sitr_strerror(s->rc);
        sitr_progress_clear(prog);
        fprintf(stderr, "sitr: %s: %s\n", e->path, msg);
        int rc = sitr_output_error(out, e->path, s->rc, msg);
        return rc < 0 ? rc : 1;
    }
    if (s->img.pdq.quality < SITR_PDQ_MIN_QUALITY) {
        sitr_progress_clear(prog);
        fprintf(stderr,
                "sitr: warning: %s: quality %d is below %d: too featureless to match safely\n",
                e->path, s->img.pdq.quality, SITR_PDQ_MIN_QUALITY);
    }
    return sitr_output_result(out, e->path, &s->img);
}

/* Runs the pool over files and prints in order.  Returns the exit status. */
static int run_batch(const sitr_walk_list_t *files, const sitr_output_t *out, int jobs)
{
    pool_t p;
    memset(&p, 0, sizeof(p));
    p.files = files;
    p.flags = out->dihedral || out->format == SITR_OUTPUT_JSONL ? SITR_PDQ_WANT_DIHEDRAL : 0;
    if ((size_t)jobs > files->n)
        jobs = files->n > 0 ? (int)files->n : 1;
    /* A few slots per worker let fast files run ahead of one slow file
     * without letting the buffer grow with the batch. */
    p.window = (size_t)jobs * 4;
    p.slots = calloc(p.window, sizeof(*p.slots));
    pthread_t *tids = calloc((size_t)jobs, sizeof(*tids));
    if (p.slots == NULL || tids == NULL) {
        free(p.slots);
        free(tids);
        fputs("sitr: out of memory\n", stderr);
        return 1;
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.done_cv, NULL);
    pthread_cond_init(&p.space_cv, NULL);

    int started = 0, status = 0;
    for (; started < jobs; started++) {
        int e = pthread_create(&tids[started], NULL, worker_main, &p);
        if (e != 0) {
            if (started == 0) {
                fprintf(stderr, "sitr: cannot start a worker thread: %s\n", strerror(e));
                status = 1;
                p.stop = 1;
            }
            break; /* fewer workers still finish the batch */
        }
    }

    sitr_progress_t prog;
    sitr_progress_init(&prog, stderr, files->n);
    if (!p.stop && sitr_output_begin(out) < 0) {
        fprintf(stderr, "sitr: cannot write output: %s\n", strerror(errno));
        status = 1;
        pthread_mutex_lock(&p.mu);
        p.stop = 1;
        pthread_cond_broadcast(&p.space_cv);
        pthread_mutex_unlock(&p.mu);
    }
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

        int rc = report(out, &prog, &files->v[i], &s);
        if (rc < 0) {
            sitr_progress_clear(&prog);
            fprintf(stderr, "sitr: cannot write output: %s\n",
                    rc == SITR_EIO ? strerror(errno) : sitr_strerror(rc));
            status = 1;
            pthread_mutex_lock(&p.mu);
            p.stop = 1;
            pthread_cond_broadcast(&p.space_cv);
            pthread_mutex_unlock(&p.mu);
            break;
        }
        if (rc > 0)
            status = 1;
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
    return status;
}

int sitr_hash_cmd_run(int argc, char **argv, const char *argv0)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"dihedral", no_argument, NULL, 'd'},
        {"jobs", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sitr_output_t out = {.f = stdout, .format = SITR_OUTPUT_TEXT};
    int jobs = default_jobs();

    opterr = 0; /* our own messages, in our own words */
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":f:dj:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (sitr_output_parse_format(optarg, &out.format) < 0)
                return usage_error("unknown format '%s' (use text, csv or jsonl)", optarg);
            break;
        case 'd':
            out.dihedral = 1;
            break;
        case 'j':
            if (parse_jobs(optarg, &jobs) < 0)
                return usage_error("--jobs wants a whole number from 1 to 256, not '%s'", optarg);
            break;
        case 'h':
            sitr_hash_cmd_usage(stdout);
            return 0;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt != 0)
                return usage_error("unknown option '-%c'", optopt);
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error("%s", "no PATH given: name image files or folders to hash");

    sitr_walk_list_t files = {0};
    for (int i = optind; i < argc; i++) {
        if (sitr_walk_add(&files, argv[i]) < 0) {
            fputs("sitr: out of memory while listing files\n", stderr);
            sitr_walk_list_free(&files);
            return 1;
        }
    }

    int status;
    if (files.n == 0) {
        fputs("sitr: no files found to hash\n", stderr);
        status = 0;
    } else if (sitr_image_init(argv0) < 0) {
        fputs("sitr: cannot initialise the image decoder (libvips)\n", stderr);
        status = 1;
    } else {
        status = run_batch(&files, &out, jobs);
        sitr_image_shutdown();
    }
    sitr_walk_list_free(&files);
    return status;
}
