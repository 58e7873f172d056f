/* libFuzzer target: arbitrary bytes through the JSON request validators.
 *
 * The input is parsed the way sitr_req_json_body does (jansson, duplicate
 * keys refused); a JSON value then goes through every body validator: the
 * victims' image lists (sitr_images_parse), case bodies with videos
 * (sitr_case_body_parse, then packed as for the database) and the
 * platforms' match batch and upload batch, with and without video items
 * (api_platform.h), and the takedown answer.  Independently the
 * raw bytes, split at newlines, feed the string validators of the
 * platforms' API (takedown list query with its cursor, decimal ids, content
 * ids).  Results are checked against the documented contracts (counts
 * within the caps, error codes and fields set on failure); a violation
 * aborts.  Single-threaded (libFuzzer's thread). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include <sitr/opaque.h>

#include "api/platform.h"
#include "api/images_json.h"
#include "api/videos_json.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ITEMS 16

static const uint8_t key[SITR_KEYS_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0)
        abort();
    /* Keep jansson's hash seed fixed so runs are reproducible. */
    json_object_seed(1);
    return 0;
}

static void check_error(const char *code, const char *field, size_t field_cap)
{
    if (!code || !code[0] || strnlen(field, field_cap) >= field_cap)
        abort();
}

static void bodies(const json_t *body)
{
    sitr_images_t im;
    sitr_images_error_t ie;
    memset(&im, 0, sizeof im);
    memset(&ie, 0, sizeof ie);
    if (sitr_images_parse(body, MAX_ITEMS, &im, &ie) == 0) {
        if (!json_is_array(im.images) || im.count != json_array_size(im.images) ||
            im.count + im.duplicates > MAX_ITEMS || !json_is_array(im.warnings))
            abort();
        /* The normalised form must serialise (it goes to the database). */
        char *s = json_dumps(im.images, JSON_COMPACT);
        if (!s)
            abort();
        free(s);
    } else {
        check_error(ie.code, ie.field, sizeof ie.field);
    }
    sitr_images_clear(&im);
    sitr_images_clear(&im); /* documented safe on a cleared struct */

    /* Case bodies with videos: bounded by the limits, packable. */
    static const sitr_videos_limits_t vlim = {
        .max_videos = 4, .max_frames = 64, .max_total_frames = 128};
    sitr_videos_t vi;
    memset(&ie, 0, sizeof ie);
    if (sitr_case_body_parse(body, MAX_ITEMS, &vlim, &im, &vi, &ie) == 0) {
        if (vi.count > vlim.max_videos || vi.frames > vlim.max_total_frames ||
            (im.count == 0 && vi.count == 0))
            abort();
        for (size_t i = 0; i < vi.count; i++)
            if (vi.videos[i].nframes > vlim.max_frames ||
                vi.videos[i].usable > vi.videos[i].nframes)
                abort();
        char *s = sitr_videos_sql(&vi, SITR_VPACK_VARIANTS_ALL, &ie);
        if (!s)
            abort(); /* the validator accepted what the packer refuses */
        free(s);
    } else {
        check_error(ie.code, ie.field, sizeof ie.field);
    }
    sitr_images_clear(&im);
    sitr_videos_clear(&vi);

    sitr_platform_error_t pe;
    memset(&pe, 0, sizeof pe);
    sitr_match_item_t *items = NULL;
    sitr_video_in_t *videos = NULL;
    size_t n = 0;
    if (sitr_platform_parse_match_v(body, MAX_ITEMS, &vlim, &items, &videos, &n, &pe) == 0) {
        size_t frames = 0;
        for (size_t i = 0; i < n; i++) {
            if (items[i].is_video ? videos[i].nframes == 0 || videos[i].nframes > vlim.max_frames
                                  : !items[i].has_pdq && !items[i].has_md5 && !items[i].has_sha256)
                abort();
            frames += items[i].is_video ? videos[i].nframes : 0;
        }
        if (frames > vlim.max_total_frames)
            abort();
    } else {
        check_error(pe.code, pe.field, sizeof pe.field);
    }
    free(items);
    sitr_platform_videos_free(videos, n);
    items = NULL;
    n = 0;
    memset(&pe, 0, sizeof pe);
    sitr_uploads_t vup;
    memset(&vup, 0, sizeof vup);
    if (sitr_platform_parse_uploads_v(body, MAX_ITEMS, &vlim, &vup, &pe) == 0) {
        char *s = json_dumps(vup.uploads, JSON_COMPACT);
        if (!s || vup.count != json_array_size(vup.uploads))
            abort();
        free(s);
    } else {
        check_error(pe.code, pe.field, sizeof pe.field);
    }
    sitr_platform_uploads_clear(&vup);
    memset(&pe, 0, sizeof pe);
    if (sitr_platform_parse_match(body, MAX_ITEMS, &items, &n, &pe) == 0) {
        if (!items || n < 1 || n > MAX_ITEMS)
            abort();
        for (size_t i = 0; i < n; i++) {
            const sitr_match_item_t *it = &items[i];
            if (!it->has_pdq && !it->has_md5 && !it->has_sha256)
                abort();
            if (it->has_pdq ? (it->quality < 0 || it->quality > 100) : it->quality != -1)
                abort();
        }
    } else {
        check_error(pe.code, pe.field, sizeof pe.field);
    }
    free(items);

    memset(&pe, 0, sizeof pe);
    sitr_uploads_t up;
    memset(&up, 0, sizeof up);
    if (sitr_platform_parse_uploads(body, MAX_ITEMS, &up, &pe) == 0) {
        if (up.count < 1 || up.count > MAX_ITEMS || json_array_size(up.uploads) != up.count)
            abort();
        char *s = json_dumps(up.uploads, JSON_COMPACT);
        if (!s)
            abort();
        free(s);
    } else {
        check_error(pe.code, pe.field, sizeof pe.field);
    }
    sitr_platform_uploads_clear(&up);

    memset(&pe, 0, sizeof pe);
    const char *status = NULL, *note = NULL;
    if (sitr_platform_parse_answer(body, &status, &note, &pe) == 0) {
        if (!status || (strcmp(status, "removed") != 0 && strcmp(status, "rejected") != 0 &&
                        strcmp(status, "not_found") != 0))
            abort();
    } else {
        check_error(pe.code, pe.field, sizeof pe.field);
    }
}

/* Up to three newline-separated strings: status, after (cursor), limit;
 * each also tried as an id and a content id. */
static void strings(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *part[3] = {NULL, NULL, NULL};
    char *p = copy;
    for (int i = 0; i < 3 && p; i++) {
        part[i] = p;
        char *nl = strchr(p, '\n');
        if (nl)
            *nl++ = '\0';
        p = nl;
    }
    sitr_takedown_query_t q;
    sitr_platform_error_t pe;
    memset(&pe, 0, sizeof pe);
    if (sitr_platform_parse_takedown_query(key, 42, part[0], part[1], part[2], &q, &pe) == 0) {
        if (q.limit < 1 || q.limit > SITR_PLATFORM_LIST_MAX || q.after < 0)
            abort();
    } else {
        check_error(pe.code, pe.field, sizeof pe.field);
    }
    for (int i = 0; i < 3 && part[i]; i++) {
        int64_t id = 0;
        if (sitr_platform_parse_id(part[i], &id) && id < 1)
            abort();
        (void)sitr_platform_valid_content_id(part[i], strlen(part[i]));
        int64_t last = 0;
        if (sitr_opaque_cursor_decode(key, 42, part[i], &last) == 0) {
            /* Only cursor_encode's own output (in either case) decodes. */
            char again[SITR_OPAQUE_CURSOR_LEN + 1];
            sitr_opaque_cursor_encode(key, 42, last, again);
            if (strcasecmp(again, part[i]) != 0)
                abort();
        }
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (body) {
        bodies(body);
        json_decref(body);
    }
    if (size <= 4096)
        strings(data, size);
    return 0;
}
