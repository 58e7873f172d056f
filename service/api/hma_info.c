/* GET /m/index/status, POST /m/compare and POST /m/lookup (hma.h).
 *
 * index/status answers HMA's shape per signal type: {"present", "built_to",
 * "size"}.  sitr's index has no build checkpoints: it follows the change
 * log, so while this replica is ready "built_to" is the time of the answer
 * and "size" what the type searches (pdq: PDQ entries of case images, their
 * variants and case video frames; md5 and video_md5: the MD5 table, images
 * and videos; sha256: the SHA-256 table; vpdq: case videos); until it is
 * ready, HMA's "not present" (false, -1, 0).
 *
 * compare is a pure function of the two hashes sent (hma_json.c): nothing
 * is searched or recorded.
 *
 * POST /m/lookup is HMA's file upload, and GET /m/lookup?url= its "fetch
 * this and hash it": sitr never receives images or videos, so both are
 * refused (403, HMA's answer when its hashing role is off) with how to hash
 * on the platform's side.  A large upload is refused the same way without
 * its body ever being read (the route's oversize answer).  Loop thread. */
#include "api/hma.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sitr/err_service.h>

#include "api/hma_json.h"
#include "api/state.h"
#include "match/replica.h"
#include "net/server.h"

/* Frames per side of a vPDQ comparison: the brute force is quadratic. */
#define COMPARE_MAX_FRAMES 1000

static const char refuse_content[] =
    "sitr never receives images or videos: hash the file on your side and send the hash. "
    "`sitr hash FILE` prints its PDQ, quality, MD5 and SHA-256 (`sitr hash --format jsonl "
    "FILE` for a video's vPDQ frames); then GET /m/lookup?signal=<hash>&signal_type=pdq "
    "(or md5, video_md5, sha256, vpdq). HMA's own hashers (python-threatexchange) give the "
    "same PDQ.";

int sitr_api_hma_lookup_post(sitr_req_t *req)
{
    sitr_api_t *api = sitr_req_server(req)->app;
    if (api)
        api->counters.hma_refused_content++;
    sitr_api_hma_error(req, 403, refuse_content);
    return 0;
}

static size_t type_size(const sitr_replica_indexes_t *ix, sitr_hma_type_t t)
{
    switch (t) {
    case SITR_HMA_PDQ:
        return ix->case_pdq ? sitr_index_size(ix->case_pdq) : 0;
    case SITR_HMA_MD5:
    case SITR_HMA_VIDEO_MD5:
        return ix->case_md5 ? sitr_digest_index_size(ix->case_md5) : 0;
    case SITR_HMA_SHA256:
        return ix->case_sha256 ? sitr_digest_index_size(ix->case_sha256) : 0;
    case SITR_HMA_VPDQ:
        return ix->case_videos ? sitr_vcat_size(ix->case_videos) : 0;
    case SITR_HMA_NTYPES:
        break;
    }
    return 0;
}

int sitr_api_hma_index_status(sitr_req_t *req)
{
    sitr_api_t *api = sitr_req_server(req)->app;
    const char *only = sitr_req_query(req, "signal_type");
    sitr_hma_type_t one = SITR_HMA_NTYPES;
    if (only && sitr_hma_type_parse(only, &one) < 0) {
        char msg[160];
        sitr_hma_unknown_type("signal type", only, msg, sizeof msg);
        sitr_api_hma_error(req, 400, msg);
        return 0;
    }
    int ready = api && api->replica && sitr_replica_is_ready(api->replica);
    const sitr_replica_indexes_t *ix = ready ? sitr_replica_indexes(api->replica) : NULL;
    json_t *out = json_object();
    int bad = !out;
    for (int t = 0; t < SITR_HMA_NTYPES && !bad; t++) {
        if (one != SITR_HMA_NTYPES && (int)one != t)
            continue;
        json_t *st =
            ix ? json_pack("{s:b,s:I,s:I}", "present", 1, "built_to", (json_int_t)time(NULL),
                           "size", (json_int_t)type_size(ix, (sitr_hma_type_t)t))
               : json_pack("{s:b,s:i,s:i}", "present", 0, "built_to", -1, "size", 0);
        bad |= json_object_set_new(out, sitr_hma_type_name((sitr_hma_type_t)t), st) < 0;
    }
    if (bad) {
        json_decref(out);
        return SITR_ENOMEM;
    }
    sitr_req_add_header(req, "Cache-Control", "no-store");
    sitr_req_reply_json(req, 200, out);
    return 0;
}

int sitr_api_hma_compare(sitr_req_t *req)
{
    size_t len;
    const uint8_t *body = sitr_req_body(req, &len);
    json_error_t jerr;
    json_t *in = len ? json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!in) {
        sitr_api_hma_error(req, 400, "the body is not valid JSON");
        return 0;
    }
    char msg[200];
    const sitr_config_t *cfg = sitr_req_server(req)->cfg;
    size_t frames =
        cfg->max_video_frames < COMPARE_MAX_FRAMES ? cfg->max_video_frames : COMPARE_MAX_FRAMES;
    json_t *out = sitr_hma_compare(in, (int)cfg->match_threshold, frames, msg, sizeof msg);
    json_decref(in);
    if (!out) {
        if (!msg[0])
            return SITR_ENOMEM;
        sitr_api_hma_error(req, 400, msg);
        return 0;
    }
    sitr_req_add_header(req, "Cache-Control", "no-store");
    sitr_req_reply_json(req, 200, out);
    return 0;
}
