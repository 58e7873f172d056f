/* `sitr hash [--format text|csv|jsonl] [--dihedral] [--jobs N] PATH...`
 *
 * The main thread parses the arguments, walks the paths into a file list
 * (walk.c), then lets the worker pool (hashpool.c) hash the files and
 * prints each result itself, in input order, as the pool hands it over.
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

#include "hashpool.h"
#include "output.h"
#include "progress.h"
#include "walk.h"

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
        fprintf(stderr, "sitr: %s: %s\n", shown(path, safe, sizeof safe), r->msg);
        pr->failed = 1;
        rc = sitr_output_error(pr->out, path, r->rc, r->msg);
    } else {
        if (r->img->pdq.quality < SITR_PDQ_MIN_QUALITY) {
            sitr_progress_clear(r->progress);
            fprintf(stderr,
                    "sitr: warning: %s: quality %d is below %d: too featureless to match safely\n",
                    shown(path, safe, sizeof safe), r->img->pdq.quality, SITR_PDQ_MIN_QUALITY);
        }
        rc = sitr_output_result(pr->out, path, r->img);
        if (rc == SITR_EINVAL) {
            /* This file only: the others are still printed. */
            sitr_progress_clear(r->progress);
            fprintf(stderr,
                    "sitr: %s: the file name holds a line break, which the text format cannot "
                    "print; use --format csv or jsonl\n",
                    shown(path, safe, sizeof safe));
            pr->failed = 1;
            return 0;
        }
    }
    if (rc < 0) {
        sitr_progress_clear(r->progress);
        fprintf(stderr, "sitr: cannot write output: %s\n",
                rc == SITR_EIO ? strerror(errno) : sitr_strerror(rc));
        return SITR_EIO;
    }
    return 0;
}

/* Runs the pool over files and prints in order.  Returns the exit status. */
static int run_batch(const sitr_walk_list_t *files, const sitr_output_t *out, int jobs)
{
    if (sitr_output_begin(out) < 0) {
        fprintf(stderr, "sitr: cannot write output: %s\n", strerror(errno));
        return 1;
    }
    printer_t pr = {.out = out};
    unsigned flags = out->dihedral || out->format == SITR_OUTPUT_JSONL ? SITR_PDQ_WANT_DIHEDRAL : 0;
    int rc = sitr_hashpool_run(files, flags, jobs, print_cb, &pr);
    return rc < 0 || pr.failed ? 1 : 0;
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
    int jobs = sitr_hashpool_default_jobs();

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
            if (sitr_hashpool_parse_jobs(optarg, &jobs) < 0)
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
