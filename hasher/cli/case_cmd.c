/* `sitr case create|add|status|withdraw|report`: the victims' API from a
 * computer.
 *
 * Images are hashed here, on the worker pool that `sitr hash` uses, and
 * only their hashes are sent: PDQ, quality, the 8 dihedral variants, MD5
 * and SHA-256; never a path, a file name or a byte of a file.  An image
 * whose PDQ quality is below 50 is sent with its MD5/SHA-256 only (the
 * server would refuse the PDQ; a featureless image would cause false
 * takedowns).  Long lists are cut into batches: the first one creates the
 * case, the others are added to it; when the server says a batch is too
 * big it is halved and retried, so a server with a smaller per-request
 * limit still gets everything.
 *
 * The case secret never comes from the command line (argv is visible to
 * every user through ps); see secret.c.  It is printed once, on stdout,
 * when the case is created, and written to a file only with --save.
 * Text from the server (messages, platform names) is printed with control
 * characters replaced, so a hostile server cannot drive the terminal.
 * Main thread only, apart from the hashing pool. */
#include "case_cmd.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sitr/hex.h>
#include <sitr/image.h>
#include <sitr/pdq.h>
#include <sitr/token.h>
#include <sitr/video.h>

#include "client.h"
#include "hashpool.h"
#include "media.h"
#include "progress.h"
#include "secret.h"
#include "walk.h"

#define DEFAULT_BATCH 100
#define MAX_BATCH     10000
#define MAX_REF_LEN   80

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef enum verb { V_CREATE, V_ADD, V_STATUS, V_WITHDRAW, V_REPORT } verb_t;

static const char *const verb_names[] = {"create", "add", "status", "withdraw", "report"};

/* The printable report page can be large (1000 takedowns with long notes);
 * sitrd caps it at 48 MiB. */
#define MAX_REPORT_PAGE ((size_t)64 << 20)

typedef struct opts {
    verb_t verb;
    char prog[32]; /* "sitr case create", for messages */
    const char *server, *secret_file, *save, *html, *lang;
    int json, yes, jobs;
    size_t batch;
} opts_t;

void sitr_case_cmd_usage(FILE *f)
{
    fputs("Usage: sitr case create [OPTIONS] PATH...\n"
          "       sitr case add [OPTIONS] CASE PATH...\n"
          "       sitr case status [OPTIONS] CASE\n"
          "       sitr case withdraw [OPTIONS] CASE\n"
          "       sitr case report [OPTIONS] CASE [--html FILE] [--lang en|fr|ar]\n"
          "\n"
          "Open and follow a case on a sitr server.  Images and videos are hashed on this\n"
          "computer and only their hashes are sent (PDQ, quality, its 8 rotations and\n"
          "flips, MD5, SHA-256; for a video the same for 5 frames a second with their\n"
          "times): never an image, a video, a file name or a path.\n"
          "\n"
          "  create    hash the image and video files and folders, open a case with the\n"
          "            hashes, and print the case number and its secret.  The secret is\n"
          "            shown ONCE and\n"
          "            cannot be recovered: write it down or keep it in a password manager.\n"
          "  add       hash more images or videos and add them to a case\n"
          "  status    what was found and done: counts and a timeline, by platform\n"
          "  withdraw  withdraw the case: every hash of it is erased at once (asks first)\n"
          "  report    the evidence report for the police (in Morocco: the Iblagh\n"
          "            platform): times, platforms, their upload ids and URLs, takedown\n"
          "            outcomes.  Printed as JSON, or with --html FILE written as a\n"
          "            printable page (open it in a browser and print it)\n"
          "\n"
          "CASE is the case number (SITR-XXXX-...).  The commands other than create need\n"
          "the case secret.  It is never taken as a command-line argument, because the\n"
          "arguments of a command can be seen by every user of the computer (ps).\n"
          "It is read, in this order, from:\n"
          "  --secret-file FILE       the first line of FILE (keep it private: chmod 600)\n"
          "  SITR_CASE_SECRET         the environment variable\n"
          "  the terminal             you are asked for it; what you type is not shown\n"
          "\n"
          "Options:\n"
          "  -s, --server URL         the sitr server (default: $SITR_SERVER, or\n"
          "                           " SITR_CLIENT_DEFAULT_SERVER ")\n"
          "      --secret-file FILE   read the case secret from FILE (all but create)\n"
          "      --save FILE          create: also write the secret to FILE, a new file that\n"
          "                           only you can read (mode 0600); never done otherwise\n"
          "      --json               print the answer as JSON (create, add, status, report)\n"
          "      --html FILE          report: write the printable page to FILE (readable\n"
          "                           only by you; '-' for standard output)\n"
          "      --lang LANG          report: the page's language, en (default), fr or ar\n"
          "  -y, --yes                withdraw without asking for confirmation\n"
          "  -j, --jobs N             hash N images at a time, or a video with N threads\n"
          "                           (default: the number of CPUs)\n"
          "      --batch N            send at most N images per request (default 100; halved\n"
          "                           automatically when the server asks for fewer)\n"
          "  -h, --help               show this help\n"
          "\n"
          "A file that cannot be hashed is reported and left out; the others are sent.\n"
          "Videos are recognised by their content and hashed 5 frames a second (so that\n"
          "an excerpt or a re-encode of them is found), with the frames' rotations and\n"
          "flips and, when a frame has black bars, its hash without them; each video is\n"
          "sent in a request of its own.  A video whose frames are all too plain (PDQ\n"
          "quality below 50) is kept by its MD5/SHA-256 only.  A recording longer than\n"
          "the server takes at 5 frames a second (12 minutes by default) is sent with\n"
          "every other frame, again until it fits, and a line says so.\n"
          "An image whose PDQ quality is below 50 is too featureless to match safely: it\n"
          "is sent with its MD5/SHA-256 only (exact copies) and a warning is printed.\n"
          "The connection is checked with TLS for https:// servers; a request gives up\n"
          "after 120 seconds; answers over 4 MiB (64 MiB for the report page) are refused.\n"
          "\n"
          "Exit status: 0 done, 1 failure (a file that could not be hashed while nothing\n"
          "could be sent, the server unreachable or refusing, a wrong secret), 2 usage\n"
          "error (including withdraw without --yes and no terminal to ask).\n",
          f);
}

__attribute__((format(printf, 2, 3))) static int usage_error(const opts_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", o->prog);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'sitr case --help'.\n", stderr);
    return EXIT_USAGE;
}

/* Prints server-provided text with control characters (terminal escapes)
 * replaced by '?'. */
static void put_safe(FILE *f, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        putc(c < 0x20 || c == 0x7f ? '?' : c, f);
    }
}

/* Explains an answer that is not a success, or a request that got none. */
static void print_failure(const opts_t *o, sitr_client_t *cl, int rc, const sitr_client_resp_t *r)
{
    FILE *f = stderr;
    fprintf(f, "%s: ", o->prog);
    if (rc < 0) {
        fputs("no answer from the server at ", f);
        put_safe(f, sitr_client_server(cl));
        fputs(": ", f);
        put_safe(f, r->transport);
        fputc('\n', f);
        return;
    }
    if (strcmp(r->code, "case_not_found") == 0) {
        fputs("no case matches this case number and secret.  Check both; a withdrawn\n"
              "case is gone for good.  (Each wrong try counts against a limit.)\n",
              f);
    } else if (strcmp(r->code, "too_many_failures") == 0) {
        fputs("too many wrong secrets were tried from this address", f);
        if (r->retry_after >= 0)
            fprintf(f, "; try again in %ld seconds", r->retry_after);
        fputs(".\n", f);
    } else if (strcmp(r->code, "rate_limited") == 0) {
        fputs("the server refused: ", f);
        put_safe(f, r->message);
        if (r->retry_after >= 0)
            fprintf(f, "; try again in %ld seconds", r->retry_after);
        fputs(".\n", f);
    } else if (r->code[0] != '\0') {
        fprintf(f, "the server refused the request (HTTP %ld, ", r->status);
        put_safe(f, r->code);
        fputs("): ", f);
        put_safe(f, r->message);
        if (r->field[0] != '\0') {
            fputs(" [", f);
            put_safe(f, r->field);
            fputc(']', f);
        }
        fputc('\n', f);
    } else {
        fputs("unexpected answer from ", f);
        put_safe(f, sitr_client_server(cl));
        fprintf(f, " (HTTP %ld); is this a sitr server?\n", r->status);
    }
    if (r->request_id[0] != '\0') {
        fputs("  (request id ", f);
        put_safe(f, r->request_id);
        fputs(", if you ask the operator for help)\n", f);
    }
}

/* ---- hashing ---------------------------------------------------------------- */

/* Case videos are hashed at 5 frames a second (docs/VIDEO_MATCHING.md: at
 * 30/25/24/60 fps that is every 6/5/4/12th frame, which divides the
 * platforms' one-a-second period, so an uncut re-encode always finds its
 * own frames), with the 8 dihedral variants and the trimmed-border hash. */
#define CASE_SECONDS_PER_HASH 0.2

typedef struct collected {
    const opts_t *o;
    json_t *items;  /* the image objects to send, in input order */
    json_t *videos; /* the video objects to send, in input order */
    size_t failed, low_quality;
} collected_t;

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    sitr_hex_encode(b, n, out);
}

/* The JSON object sent for one image: only hashes. */
static json_t *image_json(const sitr_image_t *img)
{
    char md5[2 * SITR_MD5_BYTES + 1], sha[2 * SITR_SHA256_BYTES + 1];
    hex_of(img->md5, SITR_MD5_BYTES, md5);
    hex_of(img->sha256, SITR_SHA256_BYTES, sha);
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = 0;
    if (img->pdq.quality >= SITR_PDQ_MIN_QUALITY) {
        char hex[SITR_PDQ_HEX_LEN + 1];
        sitr_pdq_to_hex(&img->pdq.hash, hex);
        json_t *dih = json_array();
        bad |= dih == NULL;
        for (int i = 0; !bad && i < SITR_PDQ_DIHEDRAL_COUNT; i++) {
            char v[SITR_PDQ_HEX_LEN + 1];
            sitr_pdq_to_hex(&img->pdq.dihedral[i], v);
            bad |= json_array_append_new(dih, json_string(v)) != 0;
        }
        bad |= json_object_set_new(o, "pdq", json_string(hex)) != 0;
        bad |= json_object_set_new(o, "quality", json_integer(img->pdq.quality)) != 0;
        bad |= json_object_set_new(o, "dihedral", dih) != 0;
    }
    bad |= json_object_set_new(o, "md5", json_string(md5)) != 0;
    bad |= json_object_set_new(o, "sha256", json_string(sha)) != 0;
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Seconds rounded to the millisecond as `sitr hash` prints them. */
static double millis(double seconds)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%.3f", seconds);
    return strtod(buf, NULL);
}

/* The JSON object sent for one video: what `sitr hash --format jsonl
 * --dihedral` prints for it, without the path.  Only hashes, times and
 * sizes. */
static json_t *video_json(const sitr_video_t *v)
{
    char md5[2 * SITR_MD5_BYTES + 1], sha[2 * SITR_SHA256_BYTES + 1];
    hex_of(v->md5, SITR_MD5_BYTES, md5);
    hex_of(v->sha256, SITR_SHA256_BYTES, sha);
    json_t *frames = json_array();
    int bad = frames == NULL;
    for (size_t i = 0; !bad && i < v->count; i++) {
        const sitr_video_frame_t *f = &v->frames[i];
        char hex[SITR_PDQ_HEX_LEN + 1];
        sitr_pdq_to_hex(&f->pdq.hash, hex);
        json_t *dih = json_array();
        bad |= dih == NULL;
        for (int k = 0; !bad && k < SITR_PDQ_DIHEDRAL_COUNT; k++) {
            char d[SITR_PDQ_HEX_LEN + 1];
            sitr_pdq_to_hex(&f->pdq.dihedral[k], d);
            bad |= json_array_append_new(dih, json_string(d)) != 0;
        }
        json_t *o = bad ? NULL
                        : json_pack("{s:I, s:f, s:s, s:i, s:o}", "n", (json_int_t)f->number, "t",
                                    millis(f->timestamp), "pdq", hex, "quality", f->pdq.quality,
                                    "dihedral", dih);
        bad |= o == NULL;
        if (!bad && f->has_trimmed) {
            sitr_pdq_to_hex(&f->trimmed, hex);
            bad |= json_object_set_new(
                       o, "trimmed",
                       json_pack("{s:s, s:i}", "pdq", hex, "quality", f->trimmed_quality)) != 0;
        }
        bad |= o == NULL || json_array_append_new(frames, o) != 0;
    }
    if (bad) {
        json_decref(frames);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:f, s:f, s:i, s:i, s:o}", "type", "video", "md5", md5,
                     "sha256", sha, "duration", millis(v->duration), "fps", v->fps, "width",
                     v->width, "height", v->height, "frames", frames);
}

static int collect_cb(void *ctx, const sitr_hashpool_result_t *r)
{
    collected_t *c = ctx;
    if (r->rc < 0) {
        sitr_progress_clear(r->progress);
        fprintf(stderr, "%s: %s: %s (left out)\n", c->o->prog, r->file->path, r->msg);
        c->failed++;
        return 0;
    }
    if (r->img->pdq.quality < SITR_PDQ_MIN_QUALITY) {
        sitr_progress_clear(r->progress);
        fprintf(stderr,
                "%s: warning: %s: PDQ quality %d is below %d, too featureless to match safely; "
                "only its MD5/SHA-256 (exact copies) are sent\n",
                c->o->prog, r->file->path, r->img->pdq.quality, SITR_PDQ_MIN_QUALITY);
        c->low_quality++;
    }
    json_t *item = image_json(r->img);
    if (item == NULL || json_array_append_new(c->items, item) != 0) {
        fprintf(stderr, "%s: out of memory\n", c->o->prog);
        return SITR_ENOMEM;
    }
    return 0;
}

/* Hashes one video into c->videos.  A video that cannot be hashed is
 * named and left out, like an image.  0, or SITR_ENOMEM. */
static int hash_video(collected_t *c, const char *path)
{
    sitr_video_options_t vopt;
    sitr_video_options_default(&vopt);
    vopt.seconds_per_hash = CASE_SECONDS_PER_HASH;
    vopt.flags = SITR_PDQ_WANT_DIHEDRAL | SITR_VIDEO_WANT_TRIMMED;
    vopt.threads = c->o->jobs;
    sitr_video_t *v = NULL;
    sitr_err_t err;
    memset(&err, 0, sizeof(err));
    int rc = sitr_video_hash_file(path, &vopt, &v, &err);
    if (rc < 0) {
        fprintf(stderr, "%s: ", c->o->prog);
        put_safe(stderr, path);
        fputs(": ", stderr);
        put_safe(stderr, err.msg[0] != '\0' ? err.msg : sitr_strerror(rc));
        fputs(" (left out)\n", stderr);
        c->failed++;
        return 0;
    }
    size_t usable = 0;
    for (size_t i = 0; i < v->count; i++)
        usable += v->frames[i].pdq.quality >= SITR_PDQ_MIN_QUALITY;
    if (usable == 0) {
        fprintf(stderr, "%s: warning: ", c->o->prog);
        put_safe(stderr, path);
        fprintf(stderr,
                ": no frame has PDQ quality %d or more, too featureless to match safely; only "
                "its MD5/SHA-256 (exact copies) are kept by the server\n",
                SITR_PDQ_MIN_QUALITY);
        c->low_quality++;
    }
    json_t *o = video_json(v);
    sitr_video_free(v);
    if (o == NULL || json_array_append_new(c->videos, o) != 0) {
        fprintf(stderr, "%s: out of memory\n", c->o->prog);
        return SITR_ENOMEM;
    }
    return 0;
}

/* Hashes every PATH: images into c->items, videos into c->videos (each
 * in input order).  Returns 0, or < 0 after printing why (nothing hashed,
 * or a hard failure); c is then released. */
static int hash_paths(const opts_t *o, char **paths, int npaths, const char *argv0, collected_t *c)
{
    memset(c, 0, sizeof(*c));
    c->o = o;
    sitr_walk_list_t files = {0};
    for (int i = 0; i < npaths; i++) {
        if (sitr_walk_add(&files, paths[i]) < 0) {
            fprintf(stderr, "%s: out of memory while listing files\n", o->prog);
            sitr_walk_list_free(&files);
            return SITR_ENOMEM;
        }
    }
    c->items = json_array();
    c->videos = json_array();
    unsigned char *kinds = calloc(files.n ? files.n : 1, 1);
    /* The images alone, for the pool: entries borrowed from files. */
    sitr_walk_list_t images = {0};
    images.v = calloc(files.n ? files.n : 1, sizeof(*images.v));
    int rc = c->items == NULL || c->videos == NULL || kinds == NULL || images.v == NULL
                 ? SITR_ENOMEM
                 : 0;
    if (rc == 0 && files.n == 0) {
        fprintf(stderr, "%s: no files found in the paths given\n", o->prog);
        rc = SITR_EEMPTY;
    }
    size_t nvideos = rc == 0 ? sitr_media_classify(&files, kinds) : 0;
    for (size_t i = 0; rc == 0 && i < files.n; i++)
        if (!kinds[i])
            images.v[images.n++] = files.v[i];
    if (rc == 0 && images.n > 0) {
        if (sitr_image_init(argv0) < 0) {
            fprintf(stderr, "%s: cannot initialise the image decoder (libvips)\n", o->prog);
            rc = SITR_EINTERNAL;
        } else {
            rc = sitr_hashpool_run(&images, SITR_PDQ_WANT_DIHEDRAL, o->jobs, collect_cb, c);
            sitr_image_shutdown();
        }
    }
    for (size_t i = 0; rc == 0 && nvideos > 0 && i < files.n; i++)
        if (kinds[i])
            rc = hash_video(c, files.v[i].path);
    free(images.v);
    free(kinds);
    sitr_walk_list_free(&files);
    size_t hashed = json_array_size(c->items) + json_array_size(c->videos);
    if (rc == 0 && c->failed > 0)
        fprintf(stderr, "%s: warning: %zu of %zu files could not be hashed and are left out\n",
                o->prog, c->failed, c->failed + hashed);
    if (rc == 0 && hashed == 0) {
        fprintf(stderr, "%s: no image or video could be hashed: nothing was sent\n", o->prog);
        rc = SITR_EEMPTY;
    }
    if (rc < 0) {
        json_decref(c->items);
        json_decref(c->videos);
        c->items = c->videos = NULL;
    }
    return rc;
}

/* ---- sending ---------------------------------------------------------------- */

typedef struct sent {
    char ref[MAX_REF_LEN + 1];
    char secret[SITR_SECRET_MAX_LEN + 1]; /* filled by a creation */
    size_t sent, stored, duplicates, warnings, total;
    size_t videos_sent, videos_stored, videos_total;
    int created;
} sent_t;

static int is_success(long status)
{
    return status >= 200 && status < 300;
}

/* Copies a string member of a success answer into out; -1 if missing or
 * unusable. */
static int answer_str(const json_t *j, const char *key, char *out, size_t outsz)
{
    const char *s = json_string_value(json_object_get(j, key));
    if (s == NULL || strlen(s) >= outsz || strlen(s) == 0)
        return -1;
    /* Case numbers and secrets are Crockford base32 in hyphenated groups.
     * Anything else is refused: the case number goes into URL paths, so a
     * hostile server must not slip in '/', '?', '#' or '%'. */
    for (const char *p = s; *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              *p == '-'))
            return -1;
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static size_t answer_count(const json_t *j, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(j, key));
    return v > 0 ? (size_t)v : 0;
}

/* Sends one request of k images or one video (body holds "images" or
 * "videos").  When s->ref is empty it creates the case (filling ref and
 * secret).  Returns 0 done, 1 "too many images, send fewer", 2 "too many
 * frames in this video, send fewer" (nothing printed for either), -1 after
 * printing why. */
static int send_one(const opts_t *o, sitr_client_t *cl, json_t *body, size_t k, int video,
                    const char *secret, sent_t *s)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    if (text == NULL) {
        fprintf(stderr, "%s: out of memory\n", o->prog);
        return -1;
    }
    int creating = s->ref[0] == '\0';
    char path[MAX_REF_LEN + 32];
    if (creating)
        snprintf(path, sizeof(path), "/v1/cases");
    else
        snprintf(path, sizeof(path), "/v1/cases/%s/images", s->ref);
    sitr_client_resp_t r;
    const char *auth = creating ? NULL : secret != NULL ? secret : s->secret;
    int rc = sitr_client_call(cl, "POST", path, auth, text, &r);
    free(text);
    if (rc == 0 && !video && k > 1 &&
        ((r.status == 422 && strcmp(r.code, "too_many_images") == 0 &&
          strcmp(r.field, "images") == 0) ||
         r.status == 413)) {
        /* Over the server's per-request limit (or, when adding, over the
         * case's limit: halving then adds what still fits, and the last
         * single image reports the limit). */
        sitr_client_resp_clear(&r);
        return 1;
    }
    if (rc == 0 && video &&
        (r.status == 413 || (r.status == 422 && strcmp(r.code, "too_many_frames") == 0))) {
        /* More frames than the server takes for one video (a long
         * recording at 5 frames a second): the caller sends fewer. */
        sitr_client_resp_clear(&r);
        return 2;
    }
    if (rc < 0 || !is_success(r.status)) {
        print_failure(o, cl, rc, &r);
        sitr_client_resp_clear(&r);
        return -1;
    }
    if (creating) {
        if (r.status != 201 || answer_str(r.json, "case", s->ref, sizeof(s->ref)) < 0 ||
            answer_str(r.json, "secret", s->secret, sizeof(s->secret)) < 0) {
            fprintf(stderr, "%s: the server's answer holds no case number and secret\n", o->prog);
            sitr_client_resp_clear(&r);
            return -1;
        }
        s->created = 1;
        s->stored += answer_count(r.json, "images");
        s->videos_stored += answer_count(r.json, "videos");
    } else {
        s->stored += answer_count(r.json, "added");
        s->videos_stored += answer_count(r.json, "videos_added");
    }
    s->total = answer_count(r.json, "images");
    s->videos_total = answer_count(r.json, "videos");
    s->duplicates += answer_count(r.json, "duplicates");
    s->warnings += json_array_size(json_object_get(r.json, "warnings"));
    if (video)
        s->videos_sent += k;
    else
        s->sent += k;
    if (r.body != NULL)
        explicit_bzero(r.body, r.body_len); /* a creation answer holds the secret */
    sitr_client_resp_clear(&r);
    return 0;
}

/* Keeps every other frame of a video object (its "frames" array): a
 * recording longer than the server takes at 5 frames a second is still
 * registered, with fewer frames a second (excerpts of it are then found
 * less often; docs/VIDEO_MATCHING.md).  0, or -1 when fewer than two
 * frames are left to halve. */
static int thin_frames(const opts_t *o, json_t *video)
{
    json_t *frames = json_object_get(video, "frames");
    size_t n = json_array_size(frames);
    if (n < 2)
        return -1;
    json_t *kept = json_array();
    for (size_t i = 0; kept != NULL && i < n; i += 2)
        if (json_array_append(kept, json_array_get(frames, i)) != 0) {
            json_decref(kept);
            kept = NULL;
        }
    if (kept == NULL || json_object_set_new(video, "frames", kept) != 0)
        return -1;
    fprintf(stderr,
            "%s: the server takes fewer frames of a video than were hashed; sending %zu of "
            "%zu frames of it\n",
            o->prog, json_array_size(kept), n);
    return 0;
}

/* Sends the images in batches, then the videos one a request (a video is
 * up to a few MB of hashes).  When s->ref is empty the first request
 * creates the case (filling ref and secret); the rest are added with
 * secret.  Returns 0, or -1 after printing why (s says what was done
 * before). */
static int send_items(const opts_t *o, sitr_client_t *cl, const collected_t *c, const char *secret,
                      sent_t *s)
{
    json_t *items = c->items;
    size_t n = json_array_size(items), pos = 0, batch = o->batch;
    while (pos < n) {
        size_t k = n - pos < batch ? n - pos : batch;
        json_t *slice = json_array();
        for (size_t i = 0; slice != NULL && i < k; i++)
            if (json_array_append(slice, json_array_get(items, pos + i)) != 0) {
                json_decref(slice);
                slice = NULL;
            }
        json_t *body = slice != NULL ? json_pack("{s:o}", "images", slice) : NULL;
        int rc = send_one(o, cl, body, k, 0, secret, s);
        json_decref(body);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            batch = k / 2;
            continue;
        }
        pos += k;
    }
    for (size_t i = 0; i < json_array_size(c->videos); i++) {
        json_t *one = json_array();
        if (one != NULL && json_array_append(one, json_array_get(c->videos, i)) != 0) {
            json_decref(one);
            one = NULL;
        }
        json_t *body = one != NULL ? json_pack("{s:o}", "videos", one) : NULL;
        int rc = send_one(o, cl, body, 1, 1, secret, s);
        json_decref(body);
        if (rc == 2 && thin_frames(o, json_array_get(c->videos, i)) == 0) {
            i--; /* the same video again, with half its frames */
            continue;
        }
        if (rc != 0) {
            if (rc == 2)
                fprintf(stderr,
                        "%s: the server refused a video as too large even with few frames; "
                        "its operator can raise SITR_MAX_VIDEO_FRAMES or SITR_MAX_BODY_BYTES, "
                        "or send a shorter cut of it\n",
                        o->prog);
            return -1;
        }
    }
    return 0;
}

/* ---- subcommands ------------------------------------------------------------ */

static void print_created(const opts_t *o, sitr_client_t *cl, const sent_t *s, int saved)
{
    if (o->json) {
        json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I}", "case", s->ref, "secret", s->secret,
                              "images", (json_int_t)s->total, "videos", (json_int_t)s->videos_total,
                              "duplicates", (json_int_t)s->duplicates);
        if (j != NULL) {
            json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            putchar('\n');
            json_decref(j);
        }
        fflush(stdout);
        return;
    }
    printf("Case created on ");
    put_safe(stdout, sitr_client_server(cl));
    printf(" with %zu image%s", s->total, s->total == 1 ? "" : "s");
    if (s->videos_total > 0)
        printf(" and %zu video%s", s->videos_total, s->videos_total == 1 ? "" : "s");
    printf(".\nOnly hashes were sent: no image, no video and no file name left this "
           "computer.\n\n");
    printf("    Case number:  %s\n", s->ref);
    printf("    Secret:       %s\n\n", s->secret);
    puts("KEEP THE SECRET SAFE.  It is shown only this once and nobody can recover it,\n"
         "not even the people who run the service.  Write the case number and the secret\n"
         "down now, on paper or in a password manager.  Whoever has both can see this\n"
         "case and withdraw it, so do not share them with anyone you do not trust.");
    if (saved)
        printf("The secret was also written to %s (readable only by you).\n", o->save);
    printf("\nTo follow the case:  sitr case status %s\n", s->ref);
    fflush(stdout);
}

static int cmd_create(const opts_t *o, sitr_client_t *cl, char **paths, int npaths,
                      const char *argv0)
{
    /* Claim the --save file before anything is sent, so a bad name cannot
     * cost the only copy of the secret. */
    int save_fd = -1;
    if (o->save != NULL && (save_fd = sitr_secret_save_open(o->prog, o->save)) < 0)
        return EXIT_FAIL;
    collected_t c;
    if (hash_paths(o, paths, npaths, argv0, &c) < 0) {
        if (save_fd >= 0) {
            close(save_fd);
            unlink(o->save);
        }
        return EXIT_FAIL;
    }
    sent_t s;
    memset(&s, 0, sizeof(s));
    int rc = send_items(o, cl, &c, NULL, &s);
    size_t n = json_array_size(c.items), nv = json_array_size(c.videos);
    json_decref(c.items);
    json_decref(c.videos);
    int status = rc < 0 ? EXIT_FAIL : EXIT_OK;
    if (!s.created) {
        if (save_fd >= 0) {
            close(save_fd);
            unlink(o->save);
        }
        return EXIT_FAIL;
    }
    int saved = 0;
    if (save_fd >= 0) {
        if (sitr_secret_save_write(o->prog, save_fd, o->save, s.secret) == 0)
            saved = 1;
        else
            status = EXIT_FAIL; /* the secret is still printed below */
    }
    print_created(o, cl, &s, saved);
    if (rc < 0)
        fprintf(stderr,
                "%s: the case was created, but only %zu of %zu images and %zu of %zu videos "
                "were sent; add the rest with: sitr case add %s PATH...\n",
                o->prog, s.sent, n, s.videos_sent, nv, s.ref);
    explicit_bzero(s.secret, sizeof(s.secret));
    return status;
}

static int cmd_add(const opts_t *o, sitr_client_t *cl, const char *ref, char **paths, int npaths,
                   const char *argv0)
{
    char secret[SITR_SECRET_MAX_LEN + 1];
    if (sitr_secret_read(o->prog, o->secret_file, ref, secret) < 0)
        return EXIT_FAIL;
    collected_t c;
    if (hash_paths(o, paths, npaths, argv0, &c) < 0) {
        explicit_bzero(secret, sizeof(secret));
        return EXIT_FAIL;
    }
    sent_t s;
    memset(&s, 0, sizeof(s));
    snprintf(s.ref, sizeof(s.ref), "%s", ref);
    int rc = send_items(o, cl, &c, secret, &s);
    size_t n = json_array_size(c.items), nv = json_array_size(c.videos);
    json_decref(c.items);
    json_decref(c.videos);
    explicit_bzero(secret, sizeof(secret));
    if (rc < 0) {
        if (s.sent > 0 || s.videos_sent > 0)
            fprintf(stderr,
                    "%s: %zu of %zu images and %zu of %zu videos were sent before the failure "
                    "(%zu images and %zu videos added)\n",
                    o->prog, s.sent, n, s.videos_sent, nv, s.stored, s.videos_stored);
        return EXIT_FAIL;
    }
    if (o->json) {
        json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "case", s.ref, "added",
                              (json_int_t)s.stored, "images", (json_int_t)s.total, "videos_added",
                              (json_int_t)s.videos_stored, "videos", (json_int_t)s.videos_total,
                              "duplicates", (json_int_t)s.duplicates);
        if (j != NULL) {
            json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            putchar('\n');
            json_decref(j);
        }
    } else {
        printf("Added %zu image%s", s.stored, s.stored == 1 ? "" : "s");
        if (nv > 0)
            printf(" and %zu video%s", s.videos_stored, s.videos_stored == 1 ? "" : "s");
        printf(" to case %s", s.ref);
        if (s.duplicates > 0)
            printf(" (%zu already known, skipped)", s.duplicates);
        printf("; it now holds %zu image%s", s.total, s.total == 1 ? "" : "s");
        if (nv > 0 || s.videos_total > 0)
            printf(" and %zu video%s", s.videos_total, s.videos_total == 1 ? "" : "s");
        printf(".\nOnly hashes were sent: no image, no video and no file name left this "
               "computer.\n");
    }
    return EXIT_OK;
}

/* "2026-11-28T21:03:11.482113+00:00" -> "2026-11-28 21:03:11 +00:00";
 * anything else is printed safely as it came. */
static void put_time(FILE *f, const char *at)
{
    if (at == NULL) {
        fputs("                          ", f);
        return;
    }
    size_t n = strlen(at);
    if (n >= 19 && at[10] == 'T') {
        const char *zone = at + 19;
        if (*zone == '.')
            while (isdigit((unsigned char)*++zone))
                ;
        fprintf(f, "%.10s %.8s ", at, at + 11);
        put_safe(f, *zone != '\0' ? zone : "");
        return;
    }
    put_safe(f, at);
}

static void put_event(FILE *f, const json_t *ev)
{
    const char *what = json_string_value(json_object_get(ev, "event"));
    const char *platform = json_string_value(json_object_get(ev, "platform"));
    json_int_t count = json_integer_value(json_object_get(ev, "count"));
    /* "<before><count><after> <platform>" */
    static const struct {
        const char *event, *before, *after;
    } texts[] = {
        {"case_created", "case created with ", " image(s)"},
        {"images_added", "", " image(s) added"},
        {"videos_added", "", " video(s) added"},
        {"match_found", "", " match(es) found on"},
        {"upload_blocked", "", " upload(s) blocked by"},
        {"takedown_requested", "", " takedown(s) requested from"},
        {"takedown_removed", "", " removed by"},
        {"takedown_rejected", "", " takedown(s) rejected by"},
        {"takedown_not_found", "", " no longer found by"},
        {"takedown_cancelled", "", " takedown(s) cancelled at"},
    };
    fputs("  ", f);
    put_time(f, json_string_value(json_object_get(ev, "at")));
    fputs("  ", f);
    for (size_t i = 0; what != NULL && i < sizeof(texts) / sizeof(texts[0]); i++) {
        if (strcmp(what, texts[i].event) == 0) {
            fprintf(f, "%s%lld%s", texts[i].before, (long long)count, texts[i].after);
            if (platform != NULL) {
                fputc(' ', f);
                put_safe(f, platform);
            }
            fputc('\n', f);
            return;
        }
    }
    put_safe(f, what != NULL ? what : "event");
    if (platform != NULL) {
        fputs(", ", f);
        put_safe(f, platform);
    }
    fprintf(f, ": %lld\n", (long long)count);
}

static void print_status(const json_t *j)
{
    const json_t *td = json_object_get(j, "takedowns");
    fputs("Case ", stdout);
    put_safe(stdout, json_string_value(json_object_get(j, "case")));
    fputs("\n  created           ", stdout);
    put_time(stdout, json_string_value(json_object_get(j, "created_at")));
    printf("\n  images            %lld\n", (long long)answer_count(j, "images"));
    printf("  videos            %lld\n", (long long)answer_count(j, "videos"));
    printf("  matches found     %lld  (copies found among platforms' uploads)\n",
           (long long)answer_count(j, "matches"));
    printf("  uploads blocked   %lld  (platforms stopped an upload of a copy)\n",
           (long long)answer_count(j, "uploads_blocked"));
    printf("  takedowns         %lld requested: %lld removed, %lld pending, %lld rejected, "
           "%lld not found, %lld cancelled\n",
           (long long)answer_count(td, "requested"), (long long)answer_count(td, "removed"),
           (long long)answer_count(td, "pending"), (long long)answer_count(td, "rejected"),
           (long long)answer_count(td, "not_found"), (long long)answer_count(td, "cancelled"));
    const json_t *tl = json_object_get(j, "timeline");
    size_t n = json_array_size(tl);
    printf("\nTimeline (oldest first, %zu event%s):\n", n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++)
        put_event(stdout, json_array_get(tl, i));
}

static int cmd_status(const opts_t *o, sitr_client_t *cl, const char *ref)
{
    char secret[SITR_SECRET_MAX_LEN + 1], path[MAX_REF_LEN + 16];
    if (sitr_secret_read(o->prog, o->secret_file, ref, secret) < 0)
        return EXIT_FAIL;
    snprintf(path, sizeof(path), "/v1/cases/%s", ref);
    sitr_client_resp_t r;
    int rc = sitr_client_call(cl, "GET", path, secret, NULL, &r);
    explicit_bzero(secret, sizeof(secret));
    int status = EXIT_OK;
    if (rc < 0 || r.status != 200 || !json_is_object(r.json)) {
        print_failure(o, cl, rc, &r);
        status = EXIT_FAIL;
    } else if (o->json) {
        json_dumpf(r.json, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
    } else {
        print_status(r.json);
    }
    sitr_client_resp_clear(&r);
    return status;
}

static int cmd_withdraw(const opts_t *o, sitr_client_t *cl, const char *ref)
{
    char secret[SITR_SECRET_MAX_LEN + 1], path[MAX_REF_LEN + 16];
    if (sitr_secret_read(o->prog, o->secret_file, ref, secret) < 0)
        return EXIT_FAIL;
    if (!o->yes) {
        char q[256];
        snprintf(q, sizeof(q),
                 "Withdraw case %s?  Every hash of it is erased at once, platforms stop\n"
                 "finding these images, and the case cannot be opened again.\n"
                 "Type 'withdraw' to confirm: ",
                 ref);
        int yes = sitr_secret_confirm(o->prog, q, "withdraw");
        if (yes <= 0) {
            explicit_bzero(secret, sizeof(secret));
            if (yes == 0)
                fprintf(stderr, "%s: not confirmed; the case was left as it is\n", o->prog);
            return yes < 0 ? EXIT_USAGE : EXIT_FAIL;
        }
    }
    snprintf(path, sizeof(path), "/v1/cases/%s", ref);
    sitr_client_resp_t r;
    int rc = sitr_client_call(cl, "DELETE", path, secret, NULL, &r);
    explicit_bzero(secret, sizeof(secret));
    int status = EXIT_OK;
    if (rc < 0 || r.status != 200) {
        print_failure(o, cl, rc, &r);
        status = EXIT_FAIL;
    } else {
        printf("Case %s is withdrawn: every hash of it has been erased, pending takedowns are\n"
               "cancelled, and the case number and secret no longer open anything.\n",
               ref);
    }
    sitr_client_resp_clear(&r);
    return status;
}

/* Writes the page to path ('-': stdout), private to its owner: the report
 * names the platforms that held the images and where. */
static int write_page(const opts_t *o, const char *body, size_t len)
{
    int to_stdout = strcmp(o->html, "-") == 0;
    int fd = to_stdout ? STDOUT_FILENO
                       : open(o->html, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", o->prog, o->html, strerror(errno));
        return -1;
    }
    size_t off = 0;
    int rc = 0;
    while (off < len) {
        ssize_t n = write(fd, body + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = -1;
            break;
        }
        off += (size_t)n;
    }
    if (!to_stdout && close(fd) != 0)
        rc = -1;
    if (rc < 0)
        fprintf(stderr, "%s: cannot write %s: %s\n", o->prog, o->html, strerror(errno));
    return rc;
}

static int cmd_report(const opts_t *o, sitr_client_t *cl, const char *ref)
{
    char secret[SITR_SECRET_MAX_LEN + 1], path[MAX_REF_LEN + 64];
    if (sitr_secret_read(o->prog, o->secret_file, ref, secret) < 0)
        return EXIT_FAIL;
    if (o->html != NULL) {
        snprintf(path, sizeof(path), "/v1/cases/%s/report?format=html&lang=%s", ref,
                 o->lang != NULL ? o->lang : "en");
        sitr_client_set_max_answer(cl, MAX_REPORT_PAGE);
    } else {
        snprintf(path, sizeof(path), "/v1/cases/%s/report", ref);
    }
    sitr_client_resp_t r;
    int rc = sitr_client_call(cl, "GET", path, secret, NULL, &r);
    explicit_bzero(secret, sizeof(secret));
    int status = EXIT_OK;
    if (rc < 0 || r.status != 200) {
        print_failure(o, cl, rc, &r);
        status = EXIT_FAIL;
    } else if (o->html != NULL) {
        if (write_page(o, r.body, r.body_len) < 0)
            status = EXIT_FAIL;
        else if (strcmp(o->html, "-") != 0)
            fprintf(stderr,
                    "The evidence report of case %s was written to %s (readable only by you).\n"
                    "Open it in a web browser to read or print it.\n",
                    ref, o->html);
    } else if (!json_is_object(r.json)) {
        fprintf(stderr, "%s: the server's report is not JSON\n", o->prog);
        status = EXIT_FAIL;
    } else {
        json_dumpf(r.json, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
    }
    sitr_client_resp_clear(&r);
    return status;
}

/* ---- entry ------------------------------------------------------------------ */

int sitr_case_cmd_run(int argc, char **argv, const char *argv0)
{
    opts_t o;
    memset(&o, 0, sizeof(o));
    snprintf(o.prog, sizeof(o.prog), "sitr case");
    if (argc < 2) {
        sitr_case_cmd_usage(stderr);
        return EXIT_USAGE;
    }
    const char *v = argv[1];
    if (strcmp(v, "-h") == 0 || strcmp(v, "--help") == 0 || strcmp(v, "help") == 0) {
        sitr_case_cmd_usage(stdout);
        return EXIT_OK;
    }
    size_t nv = sizeof(verb_names) / sizeof(verb_names[0]);
    size_t vi = 0;
    while (vi < nv && strcmp(v, verb_names[vi]) != 0)
        vi++;
    if (vi == nv)
        return usage_error(&o, "unknown command '%s' (use create, add, status, withdraw or report)",
                           v);
    o.verb = (verb_t)vi;
    snprintf(o.prog, sizeof(o.prog), "sitr case %s", verb_names[vi]);
    o.jobs = sitr_hashpool_default_jobs();
    o.batch = DEFAULT_BATCH;
    o.server = getenv("SITR_SERVER");
    if (o.server == NULL || o.server[0] == '\0')
        o.server = SITR_CLIENT_DEFAULT_SERVER;

    enum { OPT_SECRET_FILE = 256, OPT_SAVE, OPT_JSON, OPT_BATCH, OPT_HTML, OPT_LANG };
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},
        {"secret-file", required_argument, NULL, OPT_SECRET_FILE},
        {"save", required_argument, NULL, OPT_SAVE},
        {"json", no_argument, NULL, OPT_JSON},
        {"yes", no_argument, NULL, 'y'},
        {"jobs", required_argument, NULL, 'j'},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"html", required_argument, NULL, OPT_HTML},
        {"lang", required_argument, NULL, OPT_LANG},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int hashes = o.verb == V_CREATE || o.verb == V_ADD;
    opterr = 0;
    optind = 1;
    int c;
    /* argv + 1: getopt sees the verb as its program name, so the option
     * getopt just read, (argv + 1)[optind - 1], is argv[optind]. */
    while ((c = getopt_long(argc - 1, argv + 1, ":s:yj:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o.server = optarg;
            break;
        case OPT_SECRET_FILE:
            if (o.verb == V_CREATE)
                return usage_error(&o, "%s", "--secret-file is for add, status, withdraw, report");
            o.secret_file = optarg;
            break;
        case OPT_SAVE:
            if (o.verb != V_CREATE)
                return usage_error(&o, "%s", "--save is for create");
            o.save = optarg;
            break;
        case OPT_JSON:
            if (o.verb == V_WITHDRAW)
                return usage_error(&o, "%s", "--json is for create, add, status and report");
            o.json = 1;
            break;
        case OPT_HTML:
            if (o.verb != V_REPORT)
                return usage_error(&o, "%s", "--html is for report");
            o.html = optarg;
            break;
        case OPT_LANG:
            if (o.verb != V_REPORT)
                return usage_error(&o, "%s", "--lang is for report");
            if (strcmp(optarg, "en") != 0 && strcmp(optarg, "fr") != 0 && strcmp(optarg, "ar") != 0)
                return usage_error(&o, "unknown language '%s' (use en, fr or ar)", optarg);
            o.lang = optarg;
            break;
        case 'y':
            if (o.verb != V_WITHDRAW)
                return usage_error(&o, "%s", "--yes is for withdraw");
            o.yes = 1;
            break;
        case 'j':
            if (!hashes)
                return usage_error(&o, "%s", "--jobs is for create and add");
            if (sitr_hashpool_parse_jobs(optarg, &o.jobs) < 0)
                return usage_error(&o, "--jobs wants a whole number from 1 to %d, not '%s'",
                                   SITR_HASHPOOL_MAX_JOBS, optarg);
            break;
        case OPT_BATCH: {
            if (!hashes)
                return usage_error(&o, "%s", "--batch is for create and add");
            char *end;
            errno = 0;
            long b = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || b < 1 || b > MAX_BATCH)
                return usage_error(&o, "--batch wants a whole number from 1 to %d, not '%s'",
                                   MAX_BATCH, optarg);
            o.batch = (size_t)b;
            break;
        }
        case 'h':
            sitr_case_cmd_usage(stdout);
            return EXIT_OK;
        case ':':
            return usage_error(&o, "option '%s' needs a value", argv[optind]);
        default:
            if (optopt != 0)
                return usage_error(&o, "unknown option '-%c'", optopt);
            return usage_error(&o, "unknown option '%s'", argv[optind]);
        }
    }
    char **rest = argv + 1 + optind;
    int nrest = argc - 1 - optind;

    /* The case number is checked with the server's own rule (sitr/token.h:
     * alphabet, length and check symbol), so a mistyped symbol is caught
     * here, before anything is sent; the canonical form goes into the
     * URL. */
    const char *ref = NULL;
    char canonical_ref[SITR_TOKEN_REFERENCE_LEN + 1];
    if (o.verb != V_CREATE) {
        if (nrest < 1)
            return usage_error(&o, "%s", "no CASE given: name the case number (SITR-...)");
        if (sitr_token_parse(SITR_TOKEN_REFERENCE, rest[0], strlen(rest[0]), canonical_ref,
                             sizeof canonical_ref) < 0) {
            fprintf(stderr, "%s: '", o.prog);
            put_safe(stderr, rest[0]);
            fprintf(stderr, "' is not a case number: SITR- then 28 letters and digits in groups "
                            "of four, the last one a check symbol (is a symbol mistyped?)\n"
                            "Try 'sitr case --help'.\n");
            return EXIT_USAGE;
        }
        ref = canonical_ref;
        rest++;
        nrest--;
    }
    if (o.lang != NULL && o.html == NULL)
        return usage_error(&o, "%s", "--lang is for the printable page: add --html FILE");
    if (o.html != NULL && o.json)
        return usage_error(&o, "%s", "choose --html or --json");
    if (hashes && nrest < 1)
        return usage_error(&o, "%s", "no PATH given: name image files or folders to hash");
    if (!hashes && nrest > 0)
        return usage_error(&o, "unexpected argument '%s'%s", rest[0],
                           " (the secret is never given as an argument: see --help)");

    if (sitr_client_global_init() < 0) {
        fprintf(stderr, "%s: cannot initialise libcurl\n", o.prog);
        return EXIT_FAIL;
    }
    sitr_err_t err = {0};
    sitr_client_t *cl = sitr_client_new(o.server, &err);
    int status;
    if (cl == NULL) {
        fprintf(stderr, "%s: %s\n", o.prog, err.msg);
        status = err.code == SITR_EINVAL ? EXIT_USAGE : EXIT_FAIL;
    } else {
        switch (o.verb) {
        case V_CREATE:
            status = cmd_create(&o, cl, rest, nrest, argv0);
            break;
        case V_ADD:
            status = cmd_add(&o, cl, ref, rest, nrest, argv0);
            break;
        case V_STATUS:
            status = cmd_status(&o, cl, ref);
            break;
        case V_REPORT:
            status = cmd_report(&o, cl, ref);
            break;
        case V_WITHDRAW:
        default:
            status = cmd_withdraw(&o, cl, ref);
            break;
        }
    }
    sitr_client_free(cl);
    sitr_client_global_cleanup();
    return status;
}
