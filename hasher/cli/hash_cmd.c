/* `sitr hash [--format text|csv|jsonl|vpdq] [--dihedral] [--jobs N]
 *            [--seconds-per-hash S] PATH...`
 *
 * The main thread parses the arguments, walks the paths into a file list
 * (walk.c) and tells videos from images by their first bytes (media.c).
 * Images go to the worker pool (hashpool.c); a video is hashed alone by the
 * video library's own pool with the same number of threads, so the two
 * pools never run at once and never ask for more cores than --jobs: the
 * list is cut into runs of images and single videos, taken in order.  The
 * main thread prints each result itself, in input order.
 *
 * One bad file never stops the batch: its error goes to stderr (and into
 * the JSONL stream) in its place, and the exit status says whether any
 * file failed. */
#include "hash_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/image.h>
#include <sitr/pdq.h>
#include <sitr/video.h>

#include "hashpool.h"
#include "i18n.h"
#include "media.h"
#include "output.h"
#include "progress.h"
#include "walk.h"

void sitr_hash_cmd_usage(FILE *f)
{
    sitr_tr_put(f, SITR_TX_CLI_HASH_USAGE, NULL);
}

/* "sitr hash: <text t>\nTry 'sitr hash --help'.\n" on stderr; returns the
 * usage exit status. */
__attribute__((sentinel)) static int usage_error(sitr_text_t t, ...)
{
    fputs("sitr hash: ", stderr);
    va_list ap;
    va_start(ap, t);
    sitr_tr_vput(stderr, t, ap);
    va_end(ap);
    fputc('\n', stderr);
    sitr_tr_put(stderr, SITR_TX_CLI_TRY_HASH_HELP, NULL);
    fputc('\n', stderr);
    return 2;
}

/* The path as shown in a message on the terminal: control characters (a
 * crafted file name could carry escape sequences) become '?'.  Truncated to
 * the buffer. */
static const char *shown(const char *path, char *buf, size_t size)
{
    size_t i = 0;
    for (; path[i] != '\0' && i + 1 < size; i++) {
        unsigned char ch = (unsigned char)path[i];
        buf[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    buf[i] = '\0';
    return buf;
}

/* Reports a write failure of the output; returns SITR_EIO. */
static int output_failed(int rc)
{
    int e = errno;
    sitr_tr_err("sitr", SITR_TX_CLI_OUTPUT_FAILED, NULL);
    sitr_tr_detail(rc == SITR_EIO ? strerror(e) : sitr_strerror(rc));
    return SITR_EIO;
}

typedef struct printer {
    const sitr_output_t *out;
    int failed; /* some file could not be hashed */
} printer_t;

/* Prints one finished file; a failed file is reported and counted.  Stops
 * the batch (SITR_EIO) only when the output itself cannot be written. */
static int print_cb(void *ctx, const sitr_hashpool_result_t *r)
{
    printer_t *pr = ctx;
    const char *path = r->file->path;
    char safe[4096];
    int rc;
    if (r->rc < 0) {
        sitr_progress_clear(r->progress);
        sitr_tr_file_failed("sitr", path, r->rc, r->msg);
        pr->failed = 1;
        rc = sitr_output_error(pr->out, path, r->rc, r->msg);
    } else {
        if (r->img->pdq.quality < SITR_PDQ_MIN_QUALITY) {
            sitr_progress_clear(r->progress);
            char q[16], min[16];
            snprintf(q, sizeof q, "%d", r->img->pdq.quality);
            snprintf(min, sizeof min, "%d", SITR_PDQ_MIN_QUALITY);
            sitr_tr_err("sitr", SITR_TX_CLI_HASH_LOW_QUALITY, "path",
                        shown(path, safe, sizeof safe), "quality", q, "min", min, NULL);
        }
        rc = sitr_output_result(pr->out, path, r->img);
        if (rc == SITR_EINVAL) {
            /* This file only: the others are still printed. */
            sitr_progress_clear(r->progress);
            sitr_tr_err("sitr", SITR_TX_CLI_HASH_LINE_BREAK, "path", shown(path, safe, sizeof safe),
                        NULL);
            pr->failed = 1;
            return 0;
        }
    }
    if (rc < 0) {
        sitr_progress_clear(r->progress);
        return output_failed(rc);
    }
    return 0;
}

/* Hashes one video with the library's own pool and prints it.  A failed
 * video is reported and counted; returns SITR_EIO only when the output
 * cannot be written. */
static int hash_video(printer_t *pr, const char *path, const sitr_video_options_t *base)
{
    sitr_video_options_t opt = *base;
    sitr_progress_t prog;
    sitr_progress_init_seconds(&prog, stderr);
    opt.progress = sitr_progress_seconds_cb;
    opt.progress_ctx = &prog;
    sitr_video_t *v = NULL;
    sitr_err_t err = {0};
    int rc = sitr_video_hash_file(path, &opt, &v, &err);
    sitr_progress_finish(&prog);
    char safe[4096];
    if (rc < 0) {
        const char *msg = err.msg[0] != '\0' ? err.msg : sitr_strerror(rc);
        sitr_tr_file_failed("sitr", path, rc, msg);
        pr->failed = 1;
        rc = sitr_output_video_error(pr->out, path, rc, msg);
        return rc < 0 ? output_failed(rc) : 0;
    }
    size_t good = 0;
    for (size_t i = 0; i < v->count; i++)
        good += v->frames[i].pdq.quality >= SITR_PDQ_MIN_QUALITY;
    if (good * 2 < v->count) {
        char g[32], n[32], min[16];
        snprintf(g, sizeof g, "%zu", good);
        snprintf(n, sizeof n, "%zu", v->count);
        snprintf(min, sizeof min, "%d", SITR_PDQ_MIN_QUALITY);
        sitr_tr_err("sitr", SITR_TX_CLI_HASH_LOW_QUALITY_VIDEO, "path",
                    shown(path, safe, sizeof safe), "good", g, "frames", n, "min", min, NULL);
    }
    rc = sitr_output_video(pr->out, path, v);
    sitr_video_free(v);
    if (rc == SITR_EINVAL) {
        sitr_tr_err("sitr", SITR_TX_CLI_HASH_LINE_BREAK, "path", shown(path, safe, sizeof safe),
                    NULL);
        pr->failed = 1;
        return 0;
    }
    return rc < 0 ? output_failed(rc) : 0;
}

/* Hashes files in order: each run of images on the worker pool, each video
 * alone with all the threads.  kinds marks the videos.  Returns the exit
 * status. */
static int run_batch(const sitr_walk_list_t *files, const unsigned char *kinds,
                     const sitr_output_t *out, int jobs, const sitr_video_options_t *vopt)
{
    if (sitr_output_begin(out) < 0) {
        int e = errno;
        sitr_tr_err("sitr", SITR_TX_CLI_OUTPUT_FAILED, NULL);
        sitr_tr_detail(strerror(e));
        return 1;
    }
    printer_t pr = {.out = out};
    unsigned flags = out->dihedral || out->format == SITR_OUTPUT_JSONL ? SITR_PDQ_WANT_DIHEDRAL : 0;
    int rc = 0;
    for (size_t i = 0; i < files->n && rc == 0;) {
        if (kinds[i]) {
            rc = hash_video(&pr, files->v[i].path, vopt);
            i++;
            continue;
        }
        size_t j = i;
        while (j < files->n && !kinds[j])
            j++;
        /* A borrowed view of the run: the pool only reads the entries. */
        sitr_walk_list_t run = {.v = files->v + i, .n = j - i};
        rc = sitr_hashpool_run(&run, flags, jobs, print_cb, &pr);
        i = j;
    }
    return rc < 0 || pr.failed ? 1 : 0;
}

/* --format vpdq writes one video's lines with no path: several files would
 * run together with nothing to tell them apart.  Returns -1 to go on, or
 * the exit status. */
static int check_vpdq(const sitr_walk_list_t *files, const unsigned char *kinds)
{
    char safe[4096];
    if (files->n != 1) {
        char n[32];
        snprintf(n, sizeof n, "%zu", files->n);
        return usage_error(SITR_TX_CLI_HASH_VPDQ_ONE, "n", n, NULL);
    }
    const sitr_walk_entry_t *e = &files->v[0];
    if (e->err < 0) {
        sitr_tr_file_failed("sitr", e->path, e->err, e->msg);
        return 1;
    }
    if (!kinds[0]) {
        sitr_tr_err("sitr", SITR_TX_CLI_HASH_VPDQ_NOT_VIDEO, "path",
                    shown(e->path, safe, sizeof safe), NULL);
        return 1;
    }
    return -1;
}

int sitr_hash_cmd_run(int argc, char **argv, const char *argv0)
{
    enum { OPT_SECONDS = 256 };
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"dihedral", no_argument, NULL, 'd'},
        {"jobs", required_argument, NULL, 'j'},
        {"seconds-per-hash", required_argument, NULL, OPT_SECONDS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sitr_output_t out = {.f = stdout, .format = SITR_OUTPUT_TEXT};
    int jobs = sitr_hashpool_default_jobs();
    sitr_video_options_t vopt;
    sitr_video_options_default(&vopt);

    opterr = 0; /* our own messages, in our own words */
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":f:dj:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (sitr_output_parse_format(optarg, &out.format) < 0)
                return usage_error(SITR_TX_CLI_HASH_ERR_FORMAT, "format", optarg, NULL);
            break;
        case 'd':
            out.dihedral = 1;
            break;
        case 'j':
            if (sitr_hashpool_parse_jobs(optarg, &jobs) < 0)
                return usage_error(SITR_TX_CLI_ERR_NUMBER, "option", "--jobs", "max", "256",
                                   "value", optarg, NULL);
            break;
        case OPT_SECONDS:
            if (sitr_video_parse_seconds(optarg, &vopt.seconds_per_hash) < 0)
                return usage_error(SITR_TX_CLI_HASH_ERR_SECONDS, "value", optarg, NULL);
            break;
        case 'h':
            sitr_hash_cmd_usage(stdout);
            return 0;
        case ':':
            return usage_error(SITR_TX_CLI_ERR_NEEDS_VALUE, "option", argv[optind - 1], NULL);
        default:
            if (optopt != 0) {
                char opt[3] = {'-', (char)optopt, '\0'};
                return usage_error(SITR_TX_CLI_ERR_UNKNOWN_OPTION, "option", opt, NULL);
            }
            return usage_error(SITR_TX_CLI_ERR_UNKNOWN_OPTION, "option", argv[optind - 1], NULL);
        }
    }
    if (optind >= argc)
        return usage_error(SITR_TX_CLI_HASH_ERR_NO_PATH, NULL);
    if (out.format == SITR_OUTPUT_VPDQ && out.dihedral)
        return usage_error(SITR_TX_CLI_HASH_ERR_VPDQ_DIHEDRAL, NULL);

    sitr_walk_list_t files = {0};
    for (int i = optind; i < argc; i++) {
        if (sitr_walk_add(&files, argv[i]) < 0) {
            sitr_tr_err("sitr", SITR_TX_CLI_OUT_OF_MEMORY, NULL);
            sitr_walk_list_free(&files);
            return 1;
        }
    }
    unsigned char *kinds = calloc(files.n ? files.n : 1, 1);
    if (kinds == NULL) {
        sitr_tr_err("sitr", SITR_TX_CLI_OUT_OF_MEMORY, NULL);
        sitr_walk_list_free(&files);
        return 1;
    }
    size_t videos = sitr_media_classify(&files, kinds);
    out.videos = videos > 0;
    vopt.threads = jobs;
    vopt.flags = (out.dihedral ? SITR_PDQ_WANT_DIHEDRAL : 0u) |
                 (out.format == SITR_OUTPUT_JSONL ? SITR_VIDEO_WANT_TRIMMED : 0u);

    int status = -1;
    if (out.format == SITR_OUTPUT_VPDQ)
        status = check_vpdq(&files, kinds);
    if (status >= 0) {
        /* vpdq refused the files: nothing to hash */
    } else if (files.n == 0) {
        sitr_tr_err("sitr", SITR_TX_CLI_NO_FILES, NULL);
        status = 0;
    } else if (videos < files.n && sitr_image_init(argv0) < 0) {
        sitr_tr_err("sitr", SITR_TX_CLI_DECODER_INIT, NULL);
        status = 1;
    } else {
        status = run_batch(&files, kinds, &out, jobs, &vopt);
        if (videos < files.n)
            sitr_image_shutdown();
    }
    free(kinds);
    sitr_walk_list_free(&files);
    return status;
}
