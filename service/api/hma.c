/* GET /m/lookup and GET /m/raw_lookup: HMA's hash lookups (hma.h,
 * docs/api-hma.md), answered like POST /v1/match answers one item.
 *
 * Order of the checks, as HMA's matching blueprint has them: a content
 * form (?url=) is refused; the parameters are required; the signal type
 * must be known; the signal must be valid; then the index must be ready
 * (503 "index not yet ready").  Then, as /v1/match: a PDQ whose quality the
 * caller gives below 50 is never searched (answered with no match and the
 * header X-Sitr-Pdq-Ignored); a vPDQ lookup spends one more token of the
 * platform's rate per SITR_API_FRAMES_PER_TOKEN frames; the search is
 * match/msearch.h's over this replica's memory (in the thread pool for a
 * video); each matched case image and video is recorded as "upload
 * blocked" on its case through the block queue /v1/match uses
 * (api/blocks.h: queued in memory, aggregated per item, platform and UTC
 * day, written by its writer), and the answer never waits for the
 * database (a block that could not be queued, the queue being full, is
 * said with the header X-Sitr-Recorded: false, as /v1/match says
 * "recorded":false).
 *
 * The platform receives per matched case image or video a bank_content_id
 * (sitr/opaque.h: keyed, per platform, 53 bits), never a hash, case or row
 * id.  Distances: PDQ the band /v1/match answers ("<bits>" of the band's
 * upper bound, api/oracle.h), digests "-" (HMA's "no distance"), vPDQ
 * against a case video "<query %>%[<case %>%]" (HMA's VPDQSimilarityInfo).
 * The oracle's budget counts these lookups with /v1/match's: a suspended
 * pair's perceptual matches are left out.
 *
 * Threads: handlers, after-work and database callbacks on the loop thread;
 * a vPDQ search in uv_queue_work (the job holds a reference on the request
 * and checks sitr_req_gone before answering). */
#include "api/hma.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/err_service.h>
#include <sitr/opaque.h>
#include <sodium.h>

#include "api/auth.h"
#include "api/blocks.h"
#include "api/checks.h"
#include "api/hma_json.h"
#include "api/oracle.h"
#include "api/platform.h"
#include "api/state.h"
#include "core/log.h"
#include "match/msearch.h"
#include "match/replica.h"
#include "net/server.h"

typedef enum lookup_mode { LOOKUP = 0, RAW, RAW_DISTANCE } lookup_mode_t;

typedef struct hma_job {
    uv_work_t work;
    sitr_req_t *req;
    sitr_api_counters_t *counters;
    const sitr_replica_indexes_t *ix;
    lookup_mode_t mode;
    sitr_hma_signal_t sig;
    sitr_msearch_item_t item;
    int radius, rc;
    long found;
    sitr_msearch_match_t hits[SITR_PLATFORM_MAX_MATCHES];
    json_t *body;
    sitr_blocks_t *blocks; /* the API's block queue */
    sitr_checks_t *checks; /* the API's check counter */
    sitr_oracle_t *oracle; /* the API's oracle guard */
    size_t nblocked, nblocked_videos, unrecorded;
} hma_job_t;

static unsigned pooled_inflight;
static void (*idle_cb)(void *arg);
static void *idle_arg;

void sitr_api_hma_when_idle(void (*cb)(void *arg), void *arg)
{
    if (pooled_inflight == 0) {
        cb(arg);
        return;
    }
    idle_cb = cb;
    idle_arg = arg;
}

void sitr_api_hma_error(sitr_req_t *req, int status, const char *message)
{
    sitr_req_add_header(req, "Cache-Control", "no-store");
    json_t *j = json_pack("{s:s}", "message", message);
    if (!j) {
        sitr_req_reply_failure(req, SITR_ENOMEM);
        return;
    }
    sitr_req_reply_json(req, status, j);
}

int sitr_api_hma_is_route(const sitr_route_t *route)
{
    return route && strncmp(route->pattern, "/m/", 3) == 0;
}

int sitr_api_hma_not_ready(sitr_req_t *req, const sitr_route_t *route)
{
    if (route->handler == sitr_api_hma_index_status)
        return sitr_api_hma_index_status(req); /* answers "not present" */
    sitr_req_add_header(req, "Retry-After", "1");
    sitr_api_hma_error(req, 503, "index not yet ready");
    return 0;
}

static void job_free(hma_job_t *j)
{
    if (!j)
        return;
    sitr_hma_signal_clear(&j->sig);
    json_decref(j->body);
    free(j);
}

static void job_done(hma_job_t *j)
{
    sitr_req_t *req = j->req;
    job_free(j);
    sitr_req_unref(req);
}

static void run_search(hma_job_t *j)
{
    sitr_msearch_t *s = sitr_msearch_new(j->ix, j->radius, NULL);
    if (!s) {
        j->rc = SITR_ENOMEM;
        return;
    }
    long found = sitr_msearch_item(s, &j->item, j->hits, SITR_PLATFORM_MAX_MATCHES);
    sitr_msearch_wipe(s);
    sitr_msearch_free(s);
    if (found < 0)
        j->rc = (int)found;
    else
        j->found = found;
}

/* HMA's distance string for one hit: a PDQ distance is the band /v1/match
 * answers (api/oracle.h). */
static void distance_str(const sitr_oracle_t *o, const sitr_msearch_match_t *h, char *out,
                         size_t cap)
{
    if (!sitr_oracle_guarded(h))
        snprintf(out, cap, "-");
    else if (h->coverage >= 0 && h->query_share >= 0)
        snprintf(out, cap, "%.0f%%[%.0f%%]", h->query_share * 100.0, h->coverage * 100.0);
    else
        snprintf(out, cap, "%d", sitr_oracle_band(o, h));
}

static int build_answer(hma_job_t *j)
{
    sitr_server_t *srv = sitr_req_server(j->req);
    int64_t platform = sitr_req_platform_id(j->req);
    size_t shown =
        (size_t)(j->found < SITR_PLATFORM_MAX_MATCHES ? j->found : SITR_PLATFORM_MAX_MATCHES);
    json_t *list = json_array();
    int bad = !list, have_fp = 0;
    size_t listed = 0;
    uint8_t fp[SITR_ORACLE_FP_BYTES] = {0};
    for (size_t k = 0; k < shown && !bad; k++) {
        const sitr_msearch_match_t *h = &j->hits[k];
        int video = h->kind == SITR_MSEARCH_VIDEO;
        /* The oracle's guard, as /v1/match (api/oracle.h). */
        if (sitr_oracle_guarded(h) && !have_fp) {
            sitr_oracle_fingerprint(j->oracle, &j->item, fp);
            have_fp = 1;
        }
        if (!sitr_oracle_admit(j->oracle, platform, h, fp, sitr_req_log_ids(j->req)))
            continue;
        listed++;
        uint64_t cid = sitr_opaque_content_id(srv->cfg->digest_key, platform, video, h->id);
        char dist[48];
        distance_str(j->oracle, h, dist, sizeof dist);
        json_t *m = j->mode == RAW ? json_integer((json_int_t)cid)
                                   : json_pack("{s:I,s:s}", "bank_content_id", (json_int_t)cid,
                                               "distance", dist);
        bad |= json_array_append_new(list, m) < 0;
        j->unrecorded += !sitr_blocks_record(j->blocks, platform,
                                             video ? SITR_BLOCK_VIDEO : SITR_BLOCK_IMAGE, h->id);
        j->nblocked_videos += video;
        j->nblocked += !video;
    }
    sodium_memzero(fp, sizeof fp);
    if (bad) {
        json_decref(list);
        return SITR_ENOMEM;
    }
    if (j->mode == LOOKUP)
        j->body = listed ? json_pack("{s:o}", srv->cfg->hma_bank, list) : json_object();
    else
        j->body = json_pack("{s:o}", "matches", list);
    if (j->mode == LOOKUP && !listed)
        json_decref(list);
    j->counters->hma_lookups++;
    j->counters->hma_matched += listed > 0;
    sitr_checks_add(j->checks, platform, 1);
    return j->body ? 0 : SITR_ENOMEM;
}

static void reply(hma_job_t *j, int recorded)
{
    if (!recorded) {
        j->counters->hma_unrecorded++;
        sitr_req_add_header(j->req, "X-Sitr-Recorded", "false");
    }
    sitr_req_add_header(j->req, "Cache-Control", "no-store");
    sitr_req_reply_json(j->req, 200, j->body);
    j->body = NULL;
}

static void finish(hma_job_t *j)
{
    sitr_req_t *req = j->req;
    if (sitr_req_gone(req)) {
        job_done(j);
        return;
    }
    int rc = j->rc ? j->rc : build_answer(j);
    if (rc < 0) {
        sitr_log(SITR_LOG_WARN, sitr_req_log_ids(req), "hma lookup failed: %s", sitr_strerror(rc));
        sitr_api_hma_error(req, rc == SITR_ENOMEM || rc == SITR_EBUSY ? 503 : 500,
                           "the lookup failed; retry later");
        job_done(j);
        return;
    }
    sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req),
             "hma lookup (%s): %zu case images and %zu case videos matched",
             sitr_hma_type_name(j->sig.type), j->nblocked, j->nblocked_videos);
    if (j->unrecorded)
        sitr_log(SITR_LOG_WARN, sitr_req_log_ids(req),
                 "%zu matches not recorded: the block queue is full", j->unrecorded);
    reply(j, j->unrecorded == 0);
    job_done(j);
}

static void work_cb(uv_work_t *w)
{
    run_search(w->data);
}

static void after_work_cb(uv_work_t *w, int status)
{
    hma_job_t *j = w->data;
    if (status < 0 && j->rc == 0)
        j->rc = SITR_EBUSY;
    pooled_inflight--;
    finish(j);
    if (pooled_inflight == 0 && idle_cb) {
        void (*cb)(void *) = idle_cb;
        idle_cb = NULL;
        cb(idle_arg);
    }
}

/* 1 when the request's "banks" list (HMA: comma-separated names) leaves
 * out this server's one bank; absent means every bank. */
static int bank_excluded(sitr_req_t *req)
{
    const char *banks = sitr_req_query(req, "banks");
    if (!banks || !*banks)
        return 0;
    const char *mine = sitr_req_server(req)->cfg->hma_bank;
    size_t n = strlen(mine);
    for (const char *p = banks;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, mine, n) == 0)
            return 0;
        if (!comma)
            return 1;
        p = comma + 1;
    }
}

/* The answer with no match, for a lookup that searches nothing. */
static void reply_empty(sitr_req_t *req, lookup_mode_t mode)
{
    sitr_req_add_header(req, "Cache-Control", "no-store");
    json_t *j = mode == LOOKUP ? json_object() : json_pack("{s:[]}", "matches");
    if (!j) {
        sitr_req_reply_failure(req, SITR_ENOMEM);
        return;
    }
    sitr_req_reply_json(req, 200, j);
}

/* An optional "quality" for a PDQ signal: 0 and *q (-1 when absent), or -1
 * after answering 400. */
static int quality_param(sitr_req_t *req, int *q)
{
    const char *s = sitr_req_query(req, "quality");
    *q = -1;
    if (!s)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 100) {
        sitr_api_hma_error(req, 400, "quality must be an integer from 0 to 100");
        return -1;
    }
    *q = (int)v;
    return 0;
}

/* A vPDQ lookup costs like a /v1/match video item: one token more per
 * SITR_API_FRAMES_PER_TOKEN frames.  1 after answering 429. */
static int over_frame_cost(sitr_req_t *req, size_t frames)
{
    sitr_server_t *srv = sitr_req_server(req);
    sitr_api_t *api = srv->app;
    unsigned extra =
        (unsigned)((frames + SITR_API_FRAMES_PER_TOKEN - 1) / SITR_API_FRAMES_PER_TOKEN);
    if (!api || extra == 0)
        return 0;
    unsigned wait = sitr_ratelimit_take_id(api->platform_rate, sitr_req_platform_id(req), extra,
                                           uv_now(srv->loop));
    if (!wait)
        return 0;
    api->counters.platform_rate_limited++;
    char v[16];
    snprintf(v, sizeof v, "%u", wait);
    sitr_req_add_header(req, "Retry-After", v);
    /* sitr's shape, as every rate-limit refusal (hma.h) */
    sitr_req_reply_error(req, 429, "rate_limited",
                         "too many requests for this API key; retry later", NULL);
    return 1;
}

static void make_item(hma_job_t *j, int quality)
{
    sitr_msearch_item_t *q = &j->item;
    memset(q, 0, sizeof *q);
    q->quality = -1;
    switch (j->sig.type) {
    case SITR_HMA_PDQ:
        q->has_pdq = 1;
        q->pdq = j->sig.pdq;
        /* HMA's hashers drop a PDQ below quality 50 before sending it; a
         * caller that sends no quality has done so. */
        q->quality = quality < 0 ? 100 : quality;
        break;
    case SITR_HMA_MD5:
    case SITR_HMA_VIDEO_MD5:
        q->has_md5 = 1;
        memcpy(q->md5, j->sig.digest, sizeof q->md5);
        break;
    case SITR_HMA_SHA256:
        q->has_sha256 = 1;
        memcpy(q->sha256, j->sig.digest, sizeof q->sha256);
        break;
    case SITR_HMA_VPDQ:
        q->frames = j->sig.frames;
        q->nframes = j->sig.nframes;
        break;
    case SITR_HMA_NTYPES:
        break;
    }
}

static int lookup(sitr_req_t *req, lookup_mode_t mode)
{
    sitr_server_t *srv = sitr_req_server(req);
    sitr_api_t *api = srv->app;
    const char *signal = sitr_req_query(req, "signal");
    const char *type_name = sitr_req_query(req, "signal_type");
    if (mode == LOOKUP && sitr_req_query(req, "url"))
        return sitr_api_hma_lookup_post(req);
    if (mode == LOOKUP && (!signal || !type_name || !*signal || !*type_name)) {
        sitr_api_hma_error(req, 400, "Either url or both signal and signal_type are required");
        return 0;
    }
    if (!signal || !type_name) {
        sitr_api_hma_error(req, 400, !signal ? "signal is required" : "signal_type is required");
        return 0;
    }
    char msg[160];
    sitr_hma_type_t type;
    if (sitr_hma_type_parse(type_name, &type) < 0) {
        sitr_hma_unknown_type("SignalType", type_name, msg, sizeof msg);
        sitr_api_hma_error(req, 400, msg);
        return 0;
    }
    int with_distance = 0;
    const char *inc = sitr_req_query(req, "include_distance");
    if (mode == RAW && inc && sitr_hma_parse_bool(inc, &with_distance) < 0) {
        sitr_api_hma_error(req, 400, "invalid boolean parameter - prefer true/false");
        return 0;
    }
    if (with_distance)
        mode = RAW_DISTANCE;
    int quality = -1;
    if (type == SITR_HMA_PDQ && quality_param(req, &quality) < 0)
        return 0;
    hma_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return SITR_ENOMEM;
    int rc =
        sitr_hma_signal_parse(type, signal, srv->cfg->max_video_frames, &j->sig, msg, sizeof msg);
    if (rc < 0) {
        job_free(j);
        if (rc == -2)
            return SITR_ENOMEM;
        sitr_api_hma_error(req, 400, msg);
        return 0;
    }
    if (!api || !api->replica || !sitr_replica_is_ready(api->replica)) {
        job_free(j);
        sitr_req_add_header(req, "Retry-After", "1");
        sitr_api_hma_error(req, 503, "index not yet ready");
        return 0;
    }
    if (bank_excluded(req)) {
        job_free(j);
        reply_empty(req, mode);
        return 0;
    }
    if (type == SITR_HMA_PDQ && quality >= 0 && quality < SITR_HMA_MIN_QUALITY) {
        job_free(j);
        api->counters.hma_lookups++;
        api->counters.hma_pdq_ignored++;
        sitr_checks_add(api->checks, sitr_req_platform_id(req), 1);
        sitr_req_add_header(req, "X-Sitr-Pdq-Ignored", "quality_too_low");
        reply_empty(req, mode);
        return 0;
    }
    if (type == SITR_HMA_VPDQ && over_frame_cost(req, j->sig.nframes)) {
        job_free(j);
        return 0;
    }
    j->req = req;
    j->counters = &api->counters;
    j->blocks = api->blocks;
    j->checks = api->checks;
    j->oracle = api->oracle;
    j->mode = mode;
    j->ix = sitr_replica_indexes(api->replica);
    j->radius = (int)srv->cfg->match_threshold;
    make_item(j, quality);
    j->work.data = j;
    sitr_req_ref(req);
    if (type != SITR_HMA_VPDQ || j->sig.nframes <= 4) {
        run_search(j);
        finish(j);
        return 0;
    }
    if (uv_queue_work(srv->loop, &j->work, work_cb, after_work_cb) < 0) {
        job_done(j);
        return SITR_EBUSY;
    }
    pooled_inflight++;
    return 0;
}

int sitr_api_hma_lookup(sitr_req_t *req)
{
    return lookup(req, LOOKUP);
}

int sitr_api_hma_raw_lookup(sitr_req_t *req)
{
    return lookup(req, RAW);
}
