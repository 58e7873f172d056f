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
 *
 * Every word is in the language of i18n.h (English, French or Arabic):
 * errors say what happened and what to do, and the HTTP status, error
 * code and the server's message follow only under --verbose.  The server
 * is never guessed (server.h): --server, SITR_SERVER or the file create
 * writes, and each command names it.  Withdrawal says that the evidence
 * report goes with the case and offers to save it before asking for the
 * confirmation word (in her language; the English word works too).
 * Main thread only, apart from the hashing pool. */
#include "case_cmd.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sitr/hex.h>
#include <sitr/image.h>
#include <sitr/pdq.h>
#include <sitr/token.h>
#include <sitr/video.h>

#include "client.h"
#include "hashpool.h"
#include "i18n.h"
#include "media.h"
#include "progress.h"
#include "secret.h"
#include "server.h"
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
    const char *server, *secret_file, *save, *html;
    sitr_server_choice_t srv;
    int json, yes, jobs;
    size_t batch;
} opts_t;

void sitr_case_cmd_usage(FILE *f)
{
    sitr_tr_put(f, SITR_TX_CLI_CASE_USAGE, "variable", SITR_SERVER_ENV, NULL);
}

/* "<prog>: <text t>\nTry 'sitr case --help'.\n" on stderr; returns the
 * usage exit status. */
__attribute__((sentinel)) static int usage_error(const opts_t *o, sitr_text_t t, ...)
{
    fprintf(stderr, "%s: ", o->prog);
    va_list ap;
    va_start(ap, t);
    sitr_tr_vput(stderr, t, ap);
    va_end(ap);
    fputc('\n', stderr);
    sitr_tr_put(stderr, SITR_TX_CLI_TRY_CASE_HELP, NULL);
    fputc('\n', stderr);
    return EXIT_USAGE;
}

/* "for --x" usage errors: the option only some commands take. */
static int option_error(const opts_t *o, const char *option, const char *commands)
{
    return usage_error(o, SITR_TX_CLI_ERR_OPTION_FOR, "option", option, "commands", commands, NULL);
}

static void put_safe(FILE *f, const char *s)
{
    sitr_i18n_put_safe(f, s);
}

/* Explains an answer that is not a success, or a request that got none:
 * what happened and what to do, in plain words; the HTTP status, the error
 * code and the server's own message only under --verbose. */
static void print_failure(const opts_t *o, sitr_client_t *cl, int rc, const sitr_client_resp_t *r)
{
    const char *server = sitr_client_server(cl);
    char secs[32] = "";
    if (rc == 0 && r->retry_after >= 0)
        snprintf(secs, sizeof secs, "%ld", r->retry_after);
    if (rc < 0) {
        sitr_tr_err(o->prog, SITR_TX_CLI_FAIL_NO_ANSWER, "server", server, NULL);
        sitr_tr_detail(r->transport);
        return;
    }
    const char *code = r->code;
    if (strcmp(code, "case_not_found") == 0)
        sitr_tr_err(o->prog, SITR_TX_CLI_FAIL_NOT_FOUND, NULL);
    else if (strcmp(code, "too_many_failures") == 0)
        sitr_tr_err(o->prog, secs[0] ? SITR_TX_CLI_FAIL_LOCKED_FOR : SITR_TX_CLI_FAIL_LOCKED,
                    "seconds", secs, NULL);
    else if (strcmp(code, "rate_limited") == 0 || r->status == 429)
        sitr_tr_err(o->prog, secs[0] ? SITR_TX_CLI_FAIL_BUSY_FOR : SITR_TX_CLI_FAIL_BUSY, "seconds",
                    secs, NULL);
    else if (strcmp(code, "invalid_secret") == 0 || strcmp(code, "case_secret_required") == 0)
        sitr_tr_err(o->prog, SITR_TX_CLI_FAIL_BAD_SECRET, NULL);
    else if (strcmp(code, "invalid_reference") == 0)
        sitr_tr_err(o->prog, SITR_TX_CLI_FAIL_BAD_REFERENCE, NULL);
    else if (strcmp(code, "too_many_images") == 0 || strcmp(code, "too_many_videos") == 0 ||
             strcmp(code, "case_full") == 0)
        sitr_tr_err(o->prog, SITR_TX_CLI_FAIL_CASE_FULL, NULL);
    else if (r->status == 503 || strcmp(code, "overloaded") == 0 ||
             strcmp(code, "unavailable") == 0)
        sitr_tr_err(o->prog, SITR_TX_CLI_FAIL_UNAVAILABLE, NULL);
    else if (code[0] == '\0' && (r->status < 400 || r->status >= 500))
        sitr_tr_err(o->prog, r->status >= 500 ? SITR_TX_CLI_FAIL_SERVER : SITR_TX_CLI_FAIL_NOT_SITR,
                    "server", server, NULL);
    else if (r->status >= 500)
        sitr_tr_err(o->prog, SITR_TX_CLI_FAIL_SERVER, "server", server, NULL);
    else
        sitr_tr_err(o->prog, SITR_TX_CLI_FAIL_REFUSED, NULL);
    if (sitr_i18n_verbose()) {
        char detail[600];
        snprintf(detail, sizeof detail, "HTTP %ld%s%s%s%s%s%s", r->status, code[0] ? ", " : "",
                 code, r->message[0] ? ": " : "", r->message, r->field[0] ? " / " : "", r->field);
        sitr_tr_detail(detail);
    }
    if (r->request_id[0] != '\0') {
        fputs("  ", stderr);
        sitr_tr_put(stderr, SITR_TX_CLI_REQUEST_ID, "id", r->request_id, NULL);
        fputc('\n', stderr);
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
    size_t failed, not_media, low_quality;
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
        sitr_tr_file_failed(c->o->prog, r->file->path, r->rc, r->msg);
        c->failed++;
        c->not_media += sitr_i18n_file_problem(r->rc) == SITR_TX_CLI_FILE_NOT_MEDIA;
        return 0;
    }
    if (r->img->pdq.quality < SITR_PDQ_MIN_QUALITY) {
        sitr_progress_clear(r->progress);
        char q[16];
        snprintf(q, sizeof q, "%d", r->img->pdq.quality);
        sitr_tr_err(c->o->prog, SITR_TX_CLI_CASE_LOW_QUALITY, "path", r->file->path, NULL);
        sitr_tr_detail(q);
        c->low_quality++;
    }
    json_t *item = image_json(r->img);
    if (item == NULL || json_array_append_new(c->items, item) != 0) {
        sitr_tr_err(c->o->prog, SITR_TX_CLI_OUT_OF_MEMORY, NULL);
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
        sitr_tr_file_failed(c->o->prog, path, rc, err.msg);
        c->failed++;
        c->not_media += sitr_i18n_file_problem(rc) == SITR_TX_CLI_FILE_NOT_MEDIA;
        return 0;
    }
    size_t usable = 0;
    for (size_t i = 0; i < v->count; i++)
        usable += v->frames[i].pdq.quality >= SITR_PDQ_MIN_QUALITY;
    if (usable == 0) {
        sitr_tr_err(c->o->prog, SITR_TX_CLI_CASE_LOW_QUALITY_VIDEO, "path", path, NULL);
        c->low_quality++;
    }
    json_t *o = video_json(v);
    sitr_video_free(v);
    if (o == NULL || json_array_append_new(c->videos, o) != 0) {
        sitr_tr_err(c->o->prog, SITR_TX_CLI_OUT_OF_MEMORY, NULL);
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
            sitr_tr_err(o->prog, SITR_TX_CLI_OUT_OF_MEMORY, NULL);
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
        sitr_tr_err(o->prog, SITR_TX_CLI_NO_FILES, NULL);
        rc = SITR_EEMPTY;
    }
    size_t nvideos = rc == 0 ? sitr_media_classify(&files, kinds) : 0;
    for (size_t i = 0; rc == 0 && i < files.n; i++)
        if (!kinds[i])
            images.v[images.n++] = files.v[i];
    if (rc == 0 && images.n > 0) {
        if (sitr_image_init(argv0) < 0) {
            sitr_tr_err(o->prog, SITR_TX_CLI_DECODER_INIT, NULL);
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
    if (rc == 0 && c->failed > 0 && hashed > 0) {
        char nf[32], nt[32];
        snprintf(nf, sizeof nf, "%zu", c->failed);
        snprintf(nt, sizeof nt, "%zu", c->failed + hashed);
        sitr_tr_err(o->prog, SITR_TX_CLI_CASE_LEFT_OUT, "n", nf, "total", nt, NULL);
    }
    if (rc == 0 && hashed == 0) {
        sitr_tr_err(o->prog, SITR_TX_CLI_CASE_NOTHING_HASHED, NULL);
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
        sitr_tr_err(o->prog, SITR_TX_CLI_OUT_OF_MEMORY, NULL);
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
            sitr_tr_err(o->prog, SITR_TX_CLI_FAIL_NOT_SITR, "server", sitr_client_server(cl), NULL);
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
    char nk[32], nn[32];
    snprintf(nk, sizeof nk, "%zu", json_array_size(kept));
    snprintf(nn, sizeof nn, "%zu", n);
    sitr_tr_err(o->prog, SITR_TX_CLI_CASE_THINNED, "n", nk, "total", nn, NULL);
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
                sitr_tr_err(o->prog, SITR_TX_CLI_CASE_VIDEO_TOO_LONG, NULL);
            return -1;
        }
    }
    return 0;
}

/* ---- subcommands ------------------------------------------------------------ */

static void zu(char *buf, size_t size, size_t v)
{
    snprintf(buf, size, "%zu", v);
}

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
    char images[32], videos[32];
    zu(images, sizeof images, s->total);
    zu(videos, sizeof videos, s->videos_total);
    sitr_tr_put(stdout, SITR_TX_CLI_CASE_CREATED, "server", sitr_client_server(cl), "images",
                images, "videos", videos, NULL);
    fputc('\n', stdout);
    sitr_tr_put(stdout, SITR_TX_CLI_ONLY_HASHES, NULL);
    fputs("\n\n    ", stdout);
    sitr_tr_put(stdout, SITR_TX_CASE_LABEL, NULL);
    printf(":  %s\n    ", s->ref);
    sitr_tr_put(stdout, SITR_TX_SECRET_LABEL, NULL);
    printf(":  %s\n\n", s->secret);
    sitr_tr_put(stdout, SITR_TX_CREATED_WARNING, NULL);
    fputc('\n', stdout);
    if (saved) {
        sitr_tr_put(stdout, SITR_TX_CLI_CASE_SAVED_TO, "file", o->save, NULL);
        fputc('\n', stdout);
    }
    fputc('\n', stdout);
    sitr_tr_put(stdout, SITR_TX_CLI_CASE_FOLLOW, "case", s->ref, NULL);
    fputc('\n', stdout);
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
    if (rc < 0) {
        char a[32], b[32], c2[32], d[32];
        zu(a, sizeof a, s.sent);
        zu(b, sizeof b, n);
        zu(c2, sizeof c2, s.videos_sent);
        zu(d, sizeof d, nv);
        sitr_tr_err(o->prog, SITR_TX_CLI_CASE_PARTIAL, "sent", a, "n", b, "videos_sent", c2,
                    "videos", d, "case", s.ref, NULL);
    }
    explicit_bzero(s.secret, sizeof(s.secret));
    /* The next commands about this case find the same server without
     * --server: remember it (only its URL). */
    if (o->srv.from != SITR_SERVER_CONFIG && sitr_server_save(o->prog, &o->srv) == 0) {
        sitr_tr_put(stderr, SITR_TX_CLI_SERVER_SAVED, "file", o->srv.config, NULL);
        fputc('\n', stderr);
    }
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
    char a[32], b[32], c2[32], d[32], e[32], f[32];
    if (rc < 0) {
        if (s.sent > 0 || s.videos_sent > 0) {
            zu(a, sizeof a, s.sent);
            zu(b, sizeof b, n);
            zu(c2, sizeof c2, s.videos_sent);
            zu(d, sizeof d, nv);
            zu(e, sizeof e, s.stored);
            zu(f, sizeof f, s.videos_stored);
            sitr_tr_err(o->prog, SITR_TX_CLI_ADD_PARTIAL, "sent", a, "n", b, "videos_sent", c2,
                        "videos", d, "added", e, "videos_added", f, NULL);
        }
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
        zu(a, sizeof a, s.stored);
        zu(b, sizeof b, s.videos_stored);
        zu(c2, sizeof c2, s.duplicates);
        zu(d, sizeof d, s.total);
        zu(e, sizeof e, s.videos_total);
        sitr_tr_put(stdout, SITR_TX_CLI_CASE_ADDED, "case", s.ref, "images", a, "videos", b,
                    "duplicates", c2, "total", d, "videos_total", e, NULL);
        fputc('\n', stdout);
        sitr_tr_put(stdout, SITR_TX_CLI_ONLY_HASHES, NULL);
        fputc('\n', stdout);
    }
    return EXIT_OK;
}

/* "2026-11-28T21:03:11.482113+00:00" -> the same moment in this computer's
 * time zone, to the second, with the zone: "2026-11-28 22:03:11 +0100";
 * anything else is printed safely as it came. */
static void put_time(FILE *f, const char *at)
{
    if (at == NULL)
        return;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int used = 0;
    if (sscanf(at, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &used) == 6) {
        const char *z = at + used;
        if (*z == '.')
            while (isdigit((unsigned char)*++z))
                ;
        long off = 0;
        int zh, zm, ok = 0;
        if (strcmp(z, "Z") == 0) {
            ok = 1;
        } else if ((z[0] == '+' || z[0] == '-') && sscanf(z + 1, "%2d:%2d", &zh, &zm) == 2) {
            off = (z[0] == '-' ? -1 : 1) * (zh * 3600L + zm * 60L);
            ok = 1;
        }
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        time_t t = timegm(&tm) - off;
        struct tm local;
        char buf[64];
        if (ok && localtime_r(&t, &local) != NULL &&
            strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &local) > 0) {
            fputs(buf, f);
            return;
        }
    }
    put_safe(f, at);
}

static void put_event(FILE *f, const json_t *ev)
{
    const char *what = json_string_value(json_object_get(ev, "event"));
    const char *platform = json_string_value(json_object_get(ev, "platform"));
    char count[32];
    snprintf(count, sizeof count, "%lld",
             (long long)json_integer_value(json_object_get(ev, "count")));
    /* The page's own words for each event (texts.json "ev_*"): one
     * vocabulary for the page, the report and the command. */
    static const struct {
        const char *event;
        sitr_text_t text;
    } texts[] = {
        {"case_created", SITR_TX_EV_CASE_CREATED},
        {"images_added", SITR_TX_EV_IMAGES_ADDED},
        {"videos_added", SITR_TX_EV_VIDEOS_ADDED},
        {"match_found", SITR_TX_EV_MATCH_FOUND},
        {"upload_blocked", SITR_TX_EV_UPLOAD_BLOCKED},
        {"takedown_requested", SITR_TX_EV_TAKEDOWN_REQUESTED},
        {"takedown_removed", SITR_TX_EV_TAKEDOWN_REMOVED},
        {"takedown_rejected", SITR_TX_EV_TAKEDOWN_REJECTED},
        {"takedown_not_found", SITR_TX_EV_TAKEDOWN_NOT_FOUND},
        {"takedown_cancelled", SITR_TX_EV_TAKEDOWN_CANCELLED},
    };
    sitr_text_t t = SITR_TX_EV_UNKNOWN;
    for (size_t i = 0; what != NULL && i < sizeof(texts) / sizeof(texts[0]); i++)
        if (strcmp(what, texts[i].event) == 0)
            t = texts[i].text;
    fputs("  ", f);
    put_time(f, json_string_value(json_object_get(ev, "at")));
    fputs("  ", f);
    /* Blocks come one entry per platform and UTC day ("date"). */
    const char *day = json_string_value(json_object_get(ev, "date"));
    char at_day[16] = "";
    const char *at = json_string_value(json_object_get(ev, "at"));
    if (day == NULL && at != NULL)
        snprintf(at_day, sizeof at_day, "%.10s", at);
    sitr_tr_put(f, t, "count", count, "platform", platform != NULL ? platform : "-", "date",
                day != NULL ? day : at_day, NULL);
    fputc('\n', f);
}

/* "  <label>: <n>" */
static void put_count(sitr_text_t label, const json_t *j, const char *key)
{
    printf("  ");
    sitr_tr_put(stdout, label, NULL);
    printf(": %zu\n", answer_count(j, key));
}

static void print_status(const json_t *j)
{
    const json_t *td = json_object_get(j, "takedowns");
    sitr_tr_put(stdout, SITR_TX_CLI_STATUS_TITLE, "case",
                json_string_value(json_object_get(j, "case")), NULL);
    fputs("\n  ", stdout);
    sitr_tr_put(stdout, SITR_TX_CREATED_AT, NULL);
    fputs(": ", stdout);
    put_time(stdout, json_string_value(json_object_get(j, "created_at")));
    fputc('\n', stdout);
    put_count(SITR_TX_N_IMAGES, j, "images");
    put_count(SITR_TX_N_VIDEOS, j, "videos");
    put_count(SITR_TX_N_MATCHES, j, "matches");
    put_count(SITR_TX_N_BLOCKED, j, "uploads_blocked");
    if (json_is_object(td)) {
        /* the requests, by what became of them */
        static const struct {
            sitr_text_t label;
            const char *key;
        } outcomes[] = {
            {SITR_TX_N_REMOVED, "removed"},         {SITR_TX_N_PENDING, "pending"},
            {SITR_TX_N_REJECTED, "rejected"},       {SITR_TX_N_NOT_FOUND, "not_found"},
            {SITR_TX_CLI_N_CANCELLED, "cancelled"},
        };
        printf("  ");
        sitr_tr_put(stdout, SITR_TX_N_TAKEDOWNS, NULL);
        printf(": %zu\n", answer_count(td, "requested"));
        for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++) {
            printf("    ");
            sitr_tr_put(stdout, outcomes[i].label, NULL);
            printf(": %zu\n", answer_count(td, outcomes[i].key));
        }
    }
    const json_t *tl = json_object_get(j, "timeline");
    size_t n = json_array_size(tl);
    fputc('\n', stdout);
    sitr_tr_put(stdout, SITR_TX_TIMELINE, NULL);
    fputs(":\n", stdout);
    if (n == 0) {
        fputs("  ", stdout);
        sitr_tr_put(stdout, SITR_TX_TIMELINE_EMPTY, NULL);
        fputc('\n', stdout);
    }
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

static int fetch_report_page(const opts_t *o, sitr_client_t *cl, const char *ref,
                             const char *secret, const char *file);

/* Withdrawal erases the case and its evidence report with it: before the
 * confirmation word, she is told so and offered to save the report (Enter
 * takes a default file name in the current folder).  --html FILE saves it
 * without asking; --yes skips the questions. */
static int cmd_withdraw(const opts_t *o, sitr_client_t *cl, const char *ref)
{
    char secret[SITR_SECRET_MAX_LEN + 1], path[MAX_REF_LEN + 16];
    if (sitr_secret_read(o->prog, o->secret_file, ref, secret) < 0)
        return EXIT_FAIL;
    int status = EXIT_OK;
    const char *report = o->html;
    char file[1024];
    if (!o->yes) {
        char q[2048], answer[1024], def[MAX_REF_LEN + 32];
        snprintf(def, sizeof def, "sitr-report-%s.html", ref);
        sitr_tr_put(stderr, SITR_TX_CLI_WITHDRAW_WARNING, "case", ref, NULL);
        fputs("\n", stderr);
        int n = 0;
        if (report == NULL) {
            sitr_tr_snprintf(q, sizeof q, SITR_TX_CLI_WITHDRAW_SAVE_ASK, "file", def, "skip",
                             sitr_tr(SITR_TX_CLI_WORD_SKIP), NULL);
            n = sitr_secret_ask(o->prog, q, answer, sizeof answer);
            if (n < 0) {
                status = EXIT_USAGE;
                goto out;
            }
            if (n == 0) {
                snprintf(file, sizeof file, "%s", def);
                report = file;
            } else if (strcasecmp(answer, sitr_tr(SITR_TX_CLI_WORD_SKIP)) != 0 &&
                       strcasecmp(answer, "no") != 0) {
                snprintf(file, sizeof file, "%s", answer);
                report = file;
            }
        }
        if (report != NULL && fetch_report_page(o, cl, ref, secret, report) < 0) {
            sitr_tr_err(o->prog, SITR_TX_CLI_WITHDRAW_KEPT, NULL);
            status = EXIT_FAIL;
            goto out;
        }
        const char *word = sitr_tr(SITR_TX_CLI_WITHDRAW_WORD);
        const char *words[] = {word, "withdraw"};
        sitr_tr_snprintf(q, sizeof q, SITR_TX_CLI_WITHDRAW_CONFIRM, "case", ref, "word", word,
                         NULL);
        int yes = sitr_secret_confirm(o->prog, q, words, 2);
        if (yes <= 0) {
            if (yes == 0)
                sitr_tr_err(o->prog, SITR_TX_CLI_WITHDRAW_NOT_CONFIRMED, NULL);
            status = yes < 0 ? EXIT_USAGE : EXIT_FAIL;
            goto out;
        }
    } else if (report != NULL && fetch_report_page(o, cl, ref, secret, report) < 0) {
        sitr_tr_err(o->prog, SITR_TX_CLI_WITHDRAW_KEPT, NULL);
        status = EXIT_FAIL;
        goto out;
    }
    snprintf(path, sizeof(path), "/v1/cases/%s", ref);
    sitr_client_resp_t r;
    int rc = sitr_client_call(cl, "DELETE", path, secret, NULL, &r);
    if (rc < 0 || r.status != 200) {
        print_failure(o, cl, rc, &r);
        status = EXIT_FAIL;
    } else {
        sitr_tr_put(stdout, SITR_TX_CLI_WITHDRAWN, "case", ref, NULL);
        fputc('\n', stdout);
    }
    sitr_client_resp_clear(&r);
out:
    explicit_bzero(secret, sizeof(secret));
    return status;
}

/* Writes the page to file ('-': stdout), private to its owner: the report
 * names the platforms that held the images and where. */
static int write_page(const opts_t *o, const char *file, const char *body, size_t len)
{
    int to_stdout = strcmp(file, "-") == 0;
    int fd = to_stdout ? STDOUT_FILENO
                       : open(file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    int e = errno;
    size_t off = 0;
    int rc = fd < 0 ? -1 : 0;
    while (rc == 0 && off < len) {
        ssize_t n = write(fd, body + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            e = errno;
            rc = -1;
            break;
        }
        off += (size_t)n;
    }
    if (fd >= 0 && !to_stdout && close(fd) != 0 && rc == 0) {
        e = errno;
        rc = -1;
    }
    if (rc < 0) {
        sitr_tr_err(o->prog, SITR_TX_CLI_CANNOT_WRITE, "file", file, NULL);
        sitr_tr_detail(strerror(e));
    }
    return rc;
}

/* Fetches the printable report in the command's language and writes it to
 * file.  0, or -1 after printing why. */
static int fetch_report_page(const opts_t *o, sitr_client_t *cl, const char *ref,
                             const char *secret, const char *file)
{
    char path[MAX_REF_LEN + 64];
    snprintf(path, sizeof(path), "/v1/cases/%s/report?format=html&lang=%s", ref, sitr_i18n_code());
    sitr_client_set_max_answer(cl, MAX_REPORT_PAGE);
    sitr_client_resp_t r;
    int rc = sitr_client_call(cl, "GET", path, secret, NULL, &r);
    sitr_client_set_max_answer(cl, SITR_CLIENT_MAX_ANSWER);
    int status = 0;
    if (rc < 0 || r.status != 200) {
        print_failure(o, cl, rc, &r);
        status = -1;
    } else if (write_page(o, file, r.body, r.body_len) < 0) {
        status = -1;
    } else if (strcmp(file, "-") != 0) {
        sitr_tr_put(stderr, SITR_TX_CLI_REPORT_WRITTEN, "case", ref, "file", file, NULL);
        fputc('\n', stderr);
    }
    sitr_client_resp_clear(&r);
    return status;
}

static int cmd_report(const opts_t *o, sitr_client_t *cl, const char *ref)
{
    char secret[SITR_SECRET_MAX_LEN + 1], path[MAX_REF_LEN + 64];
    if (sitr_secret_read(o->prog, o->secret_file, ref, secret) < 0)
        return EXIT_FAIL;
    if (o->html != NULL) {
        int rc = fetch_report_page(o, cl, ref, secret, o->html);
        explicit_bzero(secret, sizeof(secret));
        return rc < 0 ? EXIT_FAIL : EXIT_OK;
    }
    snprintf(path, sizeof(path), "/v1/cases/%s/report", ref);
    sitr_client_resp_t r;
    int rc = sitr_client_call(cl, "GET", path, secret, NULL, &r);
    explicit_bzero(secret, sizeof(secret));
    int status = EXIT_OK;
    if (rc < 0 || r.status != 200 || !json_is_object(r.json)) {
        print_failure(o, cl, rc, &r);
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
        return usage_error(&o, SITR_TX_CLI_ERR_VERB, "command", v, NULL);
    o.verb = (verb_t)vi;
    snprintf(o.prog, sizeof(o.prog), "sitr case %s", verb_names[vi]);
    o.jobs = sitr_hashpool_default_jobs();
    o.batch = DEFAULT_BATCH;

    enum { OPT_SECRET_FILE = 256, OPT_SAVE, OPT_JSON, OPT_BATCH, OPT_HTML };
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},
        {"secret-file", required_argument, NULL, OPT_SECRET_FILE},
        {"save", required_argument, NULL, OPT_SAVE},
        {"json", no_argument, NULL, OPT_JSON},
        {"yes", no_argument, NULL, 'y'},
        {"jobs", required_argument, NULL, 'j'},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"html", required_argument, NULL, OPT_HTML},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int hashes = o.verb == V_CREATE || o.verb == V_ADD;
    opterr = 0;
    optind = 1;
    int c;
    char num[16];
    /* argv + 1: getopt sees the verb as its program name, so the option
     * getopt just read, (argv + 1)[optind - 1], is argv[optind]. */
    while ((c = getopt_long(argc - 1, argv + 1, ":s:yj:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o.server = optarg;
            break;
        case OPT_SECRET_FILE:
            if (o.verb == V_CREATE)
                return option_error(&o, "--secret-file", "add, status, withdraw, report");
            o.secret_file = optarg;
            break;
        case OPT_SAVE:
            if (o.verb != V_CREATE)
                return option_error(&o, "--save", "create");
            o.save = optarg;
            break;
        case OPT_JSON:
            if (o.verb == V_WITHDRAW)
                return option_error(&o, "--json", "create, add, status, report");
            o.json = 1;
            break;
        case OPT_HTML:
            if (o.verb != V_REPORT && o.verb != V_WITHDRAW)
                return option_error(&o, "--html", "report, withdraw");
            o.html = optarg;
            break;
        case 'y':
            if (o.verb != V_WITHDRAW)
                return option_error(&o, "--yes", "withdraw");
            o.yes = 1;
            break;
        case 'j':
            if (!hashes)
                return option_error(&o, "--jobs", "create, add");
            if (sitr_hashpool_parse_jobs(optarg, &o.jobs) < 0) {
                snprintf(num, sizeof num, "%d", SITR_HASHPOOL_MAX_JOBS);
                return usage_error(&o, SITR_TX_CLI_ERR_NUMBER, "option", "--jobs", "max", num,
                                   "value", optarg, NULL);
            }
            break;
        case OPT_BATCH: {
            if (!hashes)
                return option_error(&o, "--batch", "create, add");
            char *end;
            errno = 0;
            long b = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || b < 1 || b > MAX_BATCH) {
                snprintf(num, sizeof num, "%d", MAX_BATCH);
                return usage_error(&o, SITR_TX_CLI_ERR_NUMBER, "option", "--batch", "max", num,
                                   "value", optarg, NULL);
            }
            o.batch = (size_t)b;
            break;
        }
        case 'h':
            sitr_case_cmd_usage(stdout);
            return EXIT_OK;
        case ':':
            return usage_error(&o, SITR_TX_CLI_ERR_NEEDS_VALUE, "option", argv[optind], NULL);
        default:
            if (optopt != 0) {
                char opt[3] = {'-', (char)optopt, '\0'};
                return usage_error(&o, SITR_TX_CLI_ERR_UNKNOWN_OPTION, "option", opt, NULL);
            }
            return usage_error(&o, SITR_TX_CLI_ERR_UNKNOWN_OPTION, "option", argv[optind], NULL);
        }
    }
    char **rest = argv + 1 + optind;
    int nrest = argc - 1 - optind;

    /* The case number is checked with the server's own rule (sitr/token.h:
     * alphabet, length and check symbol, read the tolerant way), so a
     * mistyped symbol is caught here, before anything is sent; the
     * canonical form goes into the URL. */
    const char *ref = NULL;
    char canonical_ref[SITR_TOKEN_REFERENCE_LEN + 1];
    if (o.verb != V_CREATE) {
        if (nrest < 1)
            return usage_error(&o, SITR_TX_CLI_ERR_NO_CASE, NULL);
        if (sitr_token_parse(SITR_TOKEN_REFERENCE, rest[0], strlen(rest[0]), canonical_ref,
                             sizeof canonical_ref) < 0)
            return usage_error(&o, SITR_TX_CLI_ERR_NOT_CASE_NUMBER, "case", rest[0], NULL);
        ref = canonical_ref;
        rest++;
        nrest--;
    }
    if (o.html != NULL && o.json)
        return usage_error(&o, SITR_TX_CLI_ERR_HTML_JSON, NULL);
    if (hashes && nrest < 1)
        return usage_error(&o, SITR_TX_CLI_ERR_NO_PATH, NULL);
    if (!hashes && nrest > 0)
        return usage_error(&o, SITR_TX_CLI_ERR_EXTRA_ARG, "arg", rest[0], NULL);

    /* Never a guess: --server, SITR_SERVER, or the file create wrote. */
    if (sitr_server_choose(o.prog, o.server, &o.srv) < 0)
        return EXIT_USAGE;
    if (o.srv.from == SITR_SERVER_NONE) {
        sitr_tr_err(o.prog, SITR_TX_CLI_SERVER_NONE, "variable", SITR_SERVER_ENV, NULL);
        return EXIT_USAGE;
    }
    if (sitr_client_global_init() < 0) {
        sitr_tr_err(o.prog, SITR_TX_CLI_ERR_CURL, NULL);
        return EXIT_FAIL;
    }
    sitr_err_t err = {0};
    sitr_client_t *cl = sitr_client_new(o.srv.url, &err);
    int status;
    if (cl == NULL) {
        if (err.code == SITR_EINVAL) {
            sitr_tr_err(o.prog, SITR_TX_CLI_ERR_URL, "server", o.srv.url, NULL);
            status = EXIT_USAGE;
        } else {
            sitr_tr_err(o.prog, SITR_TX_CLI_ERR_CURL, NULL);
            status = EXIT_FAIL;
        }
    } else {
        sitr_server_announce(&o.srv);
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
