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
#include "media.h"
#include "output.h"
#include "progress.h"
#include "walk.h"

void sitr_hash_cmd_usage(FILE *f)
{
    fputs("Usage: sitr hash [OPTIONS] PATH...\n"
          "\n"
          "Compute the PDQ perceptual hash (Meta's 256-bit image hash) of image files,\n"
          "and the vPDQ hashes (PDQ of video frames, Meta's video hash) of video files.\n"
          "Everything happens on this computer: no image or video leaves it.  Folders are\n"
          "hashed recursively, in name order; hidden entries (names starting with '.')\n"
          "inside a folder are skipped.  Images: JPEG, PNG, WebP, GIF, TIFF, HEIC/AVIF.\n"
          "Videos: MP4/MOV/3GP, Matroska/WebM, AVI, MPEG-TS holding H.264, HEVC, VP8, VP9,\n"
          "AV1, MPEG-4 or MJPEG.  Files are recognised by their content, not their name.\n"
          "Paths are printed as given, joined with the path inside a folder argument.\n"
          "\n"
          "Options:\n"
          "  -f, --format FORMAT  text (default), csv, jsonl or vpdq\n"
          "  -d, --dihedral       also print the 8 hashes of the rotated and flipped image\n"
          "                       (of each hashed frame, for a video in csv and jsonl)\n"
          "  -j, --jobs N         hash N images at a time, or a video with N threads\n"
          "                       (default: the number of CPUs)\n"
          "      --seconds-per-hash S\n"
          "                       hash one video frame every S seconds (default 1, as\n"
          "                       Meta's HMA; 0: every frame); S may be a fraction\n"
          "  -h, --help           show this help\n"
          "\n"
          "Output, one record per file, in the order of the arguments:\n"
          "  text   <pdq>,<quality>,<path>      (the line of Meta's pdq-photo-hasher)\n"
          "         with --dihedral:\n"
          "         <orig>,<rot90>,<rot180>,<rot270>,<flipx>,<flipy>,<flipplus1>,<flipminus1>,\n"
          "         <quality>,<path>            (one line; orig is the plain hash)\n"
          "         a video: video,<hashed frames>,<duration in seconds>,<path>\n"
          "  csv    a header, then path,pdq,quality,md5,sha256; with --dihedral 8 more\n"
          "         columns orig,rot90,rot180,rot270,flipx,flipy,flipplus1,flipminus1;\n"
          "         when there is a video, two more columns frame,timestamp and one row\n"
          "         per hashed frame of the video (empty for an image)\n"
          "  jsonl  {\"type\":\"image\",\"path\",\"pdq\",\"quality\",\"dihedral\":[8 "
          "hashes],\"md5\",\n"
          "         \"sha256\"}, or for a video {\"type\":\"video\",\"path\",\"md5\",\"sha256\",\n"
          "         "
          "\"duration\",\"fps\",\"width\",\"height\",\"frames\":[{\"n\",\"t\",\"pdq\",\"quality\"}]"
          "}\n"
          "         (each frame with \"dihedral\" if asked, and \"trimmed\":{\"pdq\",\"quality\"}\n"
          "         when the frame has black bars: its hash without them), or\n"
          "         {\"path\",\"error\":{\"code\",\"message\"}} for a file that failed\n"
          "  vpdq   <frame>,<quality>,<pdq>,<seconds> per hashed frame: the lines of\n"
          "         Meta's vpdq-hash-video, for exactly one video file\n"
          "  pdq is 64 hex digits, quality 0..100.  Dihedral order (Meta's): orig, rot90\n"
          "  (90 degrees counter-clockwise), rot180, rot270, flipx (top<->bottom), flipy\n"
          "  (left<->right), flipplus1 (transpose), flipminus1 (anti-transpose).  Frame\n"
          "  numbers count decoded frames from 0; times are in seconds.\n"
          "\n"
          "A hash of quality below 50 is printed with a warning on stderr: the image is\n"
          "too featureless to match safely (for a video: when most of its frames are).\n"
          "A file that cannot be hashed is reported on stderr and the others are still\n"
          "hashed; a video is hashed whole or not at all.\n"
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

/* Reports a write failure of the output; returns SITR_EIO. */
static int output_failed(int rc)
{
    fprintf(stderr, "sitr: cannot write output: %s\n",
            rc == SITR_EIO ? strerror(errno) : sitr_strerror(rc));
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
        fprintf(stderr, "sitr: %s: %s\n", shown(path, safe, sizeof safe), msg);
        pr->failed = 1;
        rc = sitr_output_video_error(pr->out, path, rc, msg);
        return rc < 0 ? output_failed(rc) : 0;
    }
    size_t good = 0;
    for (size_t i = 0; i < v->count; i++)
        good += v->frames[i].pdq.quality >= SITR_PDQ_MIN_QUALITY;
    if (good * 2 < v->count)
        fprintf(stderr,
                "sitr: warning: %s: only %zu of %zu hashed frames reach quality %d: the others "
                "are too featureless to match safely\n",
                shown(path, safe, sizeof safe), good, v->count, SITR_PDQ_MIN_QUALITY);
    rc = sitr_output_video(pr->out, path, v);
    sitr_video_free(v);
    if (rc == SITR_EINVAL) {
        fprintf(stderr,
                "sitr: %s: the file name holds a line break, which the text format cannot "
                "print; use --format csv or jsonl\n",
                shown(path, safe, sizeof safe));
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
        fprintf(stderr, "sitr: cannot write output: %s\n", strerror(errno));
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
        fprintf(stderr,
                "sitr hash: --format vpdq prints the frames of one video: give exactly one "
                "video file (these paths hold %zu files; use --format jsonl for several)\n"
                "Try 'sitr hash --help'.\n",
                files->n);
        return 2;
    }
    const sitr_walk_entry_t *e = &files->v[0];
    if (e->err < 0) {
        fprintf(stderr, "sitr: %s: %s\n", shown(e->path, safe, sizeof safe), e->msg);
        return 1;
    }
    if (!kinds[0]) {
        fprintf(stderr, "sitr: %s: not a video: --format vpdq is for videos\n",
                shown(e->path, safe, sizeof safe));
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
                return usage_error("unknown format '%s' (use text, csv, jsonl or vpdq)", optarg);
            break;
        case 'd':
            out.dihedral = 1;
            break;
        case 'j':
            if (sitr_hashpool_parse_jobs(optarg, &jobs) < 0)
                return usage_error("--jobs wants a whole number from 1 to 256, not '%s'", optarg);
            break;
        case OPT_SECONDS:
            if (sitr_video_parse_seconds(optarg, &vopt.seconds_per_hash) < 0)
                return usage_error("--seconds-per-hash wants a number of seconds from 0 (every "
                                   "frame) to 3600, not '%s'",
                                   optarg);
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
        return usage_error("%s", "no PATH given: name image or video files or folders to hash");
    if (out.format == SITR_OUTPUT_VPDQ && out.dihedral)
        return usage_error("%s", "--dihedral has no place in the vpdq format (use jsonl or csv)");

    sitr_walk_list_t files = {0};
    for (int i = optind; i < argc; i++) {
        if (sitr_walk_add(&files, argv[i]) < 0) {
            fputs("sitr: out of memory while listing files\n", stderr);
            sitr_walk_list_free(&files);
            return 1;
        }
    }
    unsigned char *kinds = calloc(files.n ? files.n : 1, 1);
    if (kinds == NULL) {
        fputs("sitr: out of memory while listing files\n", stderr);
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
        fputs("sitr: no files found to hash\n", stderr);
        status = 0;
    } else if (videos < files.n && sitr_image_init(argv0) < 0) {
        fputs("sitr: cannot initialise the image decoder (libvips)\n", stderr);
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
