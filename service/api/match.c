/* POST /v1/match: platforms check uploads, images and videos, against
 * every live case image and case video (DESIGN.md "API", "Matching rules";
 * contract in docs/api-platforms.md).
 *
 * The answer comes from this replica's memory (replica.h), never from the
 * database, so every replica answers alone; until its indexes are loaded
 * it answers 503.  The search is match/msearch.h's: per image item the PDQ
 * (only when its quality is >= 50: a featureless image would match
 * unrelated ones) and the digests; per video item its usable frames (and
 * trimmed hashes), decided per case video (vpdq_copy, vpdq_excerpt,
 * video_frame), and its digests.  Each matched case image or case video
 * appears once with its best signal; a video match carries coverage and
 * run_seconds.  The platform receives per target an opaque ref
 * (sitr/opaque.h: images and videos in separate namespaces), never a
 * victim's hash or frame times; a perceptual distance only as its band,
 * and nothing perceptual for a (platform, target) pair the oracle's guard
 * has suspended (api/oracle.h).
 *
 * Recording: each (item, matched case image or video) pair is one "upload
 * blocked" record, queued in memory (api/blocks.h: aggregated per item,
 * platform and UTC day, written in batches by a writer, no hash of the
 * query) before the answer is sent, never waiting for the database: the
 * answer is the same whatever the database's state (blocking the upload is
 * what protects the victim; the database being down must not let the image
 * through).  An item one of whose blocks could not be queued (the queue is
 * full) says "recorded":false; the answer's own "recorded" is false when
 * any item's is.
 *
 * The image items' PDQ searches of a request run as one batched index
 * search and each video item's frames as one batch (sitr_msearch_batch: the
 * same answers as item by item).
 *
 * Threads: the handler, the after-work and the database callback run on the
 * loop thread.  Requests of more than INLINE_WORK searches (image items
 * plus video frames) are searched in uv_queue_work (the indexes are safe to
 * search from any thread; the searcher is made for the job); the job holds
 * a reference on the request and checks sitr_req_gone before answering. */
#include "api/match.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/err_service.h>
#include <sitr/opaque.h>
#include <sodium.h>

#include "api/blocks.h"
#include "api/checks.h"
#include "api/oracle.h"
#include "api/platform.h"
#include "api/reply.h"
#include "api/state.h"
#include "core/log.h"
#include "match/msearch.h"
#include "match/replica.h"
#include "net/server.h"

/* Up to this many searches (image items plus video frames) run on the loop
 * thread: a handful of index probes costs less than a trip through the
 * thread pool; a video's frames go to the pool. */
#define INLINE_WORK 4

/* Batches in the thread pool read the replica's indexes: at shutdown the
 * replica is closed only once they are back (sitr_api_match_when_idle). */
static unsigned pooled_inflight;
static void (*idle_cb)(void *arg);
static void *idle_arg;

void sitr_api_match_when_idle(void (*cb)(void *arg), void *arg)
{
    if (pooled_inflight == 0) {
        cb(arg);
        return;
    }
    idle_cb = cb;
    idle_arg = arg;
}

typedef struct match_job {
    uv_work_t work;
    sitr_req_t *req;
    sitr_api_counters_t *counters; /* the API's; it outlives every job */
    const sitr_replica_indexes_t *ix;
    sitr_match_item_t *items;
    sitr_video_in_t *videos; /* per item; filled for video items */
    sitr_msearch_item_t *query;
    size_t n;
    int radius;
    int rc;                     /* search failure (SITR_ENOMEM) */
    sitr_msearch_match_t *hits; /* n * SITR_PLATFORM_MAX_MATCHES */
    long *found;                /* per item: distinct case images and videos matched */
    json_t *body;               /* the answer, built after the search */
    sitr_blocks_t *blocks;      /* the API's block queue */
    sitr_checks_t *checks;      /* the API's check counter */
    sitr_oracle_t *oracle;      /* the API's oracle guard */
    size_t nblocked, nblocked_videos, unrecorded;
} match_job_t;

static void job_free(match_job_t *j)
{
    if (!j)
        return;
    free(j->items);
    sitr_platform_videos_free(j->videos, j->n);
    free(j->query);
    free(j->hits);
    free(j->found);
    json_decref(j->body);
    free(j);
}

static void job_done(match_job_t *j)
{
    sitr_req_t *req = j->req;
    job_free(j);
    sitr_req_unref(req);
}

static void run_search(match_job_t *j)
{
    sitr_msearch_t *s = sitr_msearch_new(j->ix, j->radius, NULL);
    if (!s) {
        j->rc = SITR_ENOMEM;
        return;
    }
    j->rc = sitr_msearch_batch(s, j->query, j->n, j->hits, SITR_PLATFORM_MAX_MATCHES, j->found);
    sitr_msearch_free(s);
}

/* The searcher's items from the parsed ones (borrowing their frames). */
static void make_query(match_job_t *j)
{
    for (size_t i = 0; i < j->n; i++) {
        const sitr_match_item_t *m = &j->items[i];
        sitr_msearch_item_t *q = &j->query[i];
        if (m->is_video) {
            const sitr_video_in_t *v = &j->videos[i];
            q->has_md5 = v->has_md5 != 0;
            q->has_sha256 = v->has_sha256 != 0;
            memcpy(q->md5, v->md5, sizeof q->md5);
            memcpy(q->sha256, v->sha256, sizeof q->sha256);
            q->frames = v->frames;
            q->nframes = v->nframes;
            q->quality = -1;
            continue;
        }
        /* A PDQ below quality 50 is never searched (pdq_ignored). */
        q->has_pdq = m->has_pdq && !m->pdq_low_quality;
        q->has_md5 = m->has_md5;
        q->has_sha256 = m->has_sha256;
        memcpy(q->pdq.b, m->pdq, sizeof q->pdq.b);
        q->quality = m->quality;
        memcpy(q->md5, m->md5, sizeof q->md5);
        memcpy(q->sha256, m->sha256, sizeof q->sha256);
    }
}

/* Builds the answer and queues a block record per matched target.  0 or
 * SITR_ENOMEM. */
static int build_answer(match_job_t *j)
{
    const sitr_server_t *srv = sitr_req_server(j->req);
    int64_t platform = sitr_req_platform_id(j->req);
    json_t *items = json_array();
    if (!items)
        return SITR_ENOMEM;
    int bad = 0;
    for (size_t i = 0; i < j->n && !bad; i++) {
        const sitr_msearch_match_t *h = j->hits + i * SITR_PLATFORM_MAX_MATCHES;
        size_t shown = (size_t)j->found[i] < SITR_PLATFORM_MAX_MATCHES ? (size_t)j->found[i]
                                                                       : SITR_PLATFORM_MAX_MATCHES;
        json_t *matches = json_array();
        int recorded = 1, have_fp = 0;
        size_t listed = 0;
        uint8_t fp[SITR_ORACLE_FP_BYTES] = {0};
        for (size_t k = 0; matches && k < shown && !bad; k++) {
            char ref[SITR_OPAQUE_TOKEN_LEN + 1];
            int video = h[k].kind == SITR_MSEARCH_VIDEO;
            /* The oracle's guard: a perceptual match of a suspended pair
             * is not shown (api/oracle.h). */
            if (sitr_oracle_guarded(&h[k]) && !have_fp) {
                sitr_oracle_fingerprint(j->oracle, &j->query[i], fp);
                have_fp = 1;
            }
            if (!sitr_oracle_admit(j->oracle, platform, &h[k], fp, sitr_req_log_ids(j->req)))
                continue;
            listed++;
            if (video)
                sitr_opaque_video_ref(srv->cfg->digest_key, platform, h[k].id, ref);
            else
                sitr_opaque_ref(srv->cfg->digest_key, platform, h[k].id, ref);
            json_t *m = json_pack("{s:s,s:s,s:i}", "ref", ref, "signal",
                                  sitr_msearch_signal_name(h[k].signal), "distance",
                                  sitr_oracle_band(j->oracle, &h[k]));
            /* Video evidence, rounded: a share and a length, never a time
             * of the victim's video. */
            if (m && h[k].coverage >= 0)
                bad |= json_object_set_new(m, "coverage",
                                           json_real(round(h[k].coverage * 1000) / 1000)) < 0;
            if (m && h[k].run_seconds >= 0)
                bad |= json_object_set_new(m, "run_seconds",
                                           json_real(round(h[k].run_seconds * 10) / 10)) < 0;
            bad |= json_array_append_new(matches, m) < 0;
            recorded &= sitr_blocks_record(j->blocks, platform,
                                           video ? SITR_BLOCK_VIDEO : SITR_BLOCK_IMAGE, h[k].id);
            j->nblocked_videos += video;
            j->nblocked += !video;
        }
        json_t *it =
            matches ? json_pack("{s:b,s:o}", "matched", listed > 0, "matches", matches) : NULL;
        if (it && (size_t)j->found[i] > shown)
            bad |= json_object_set_new(it, "more", json_true());
        if (it && !recorded)
            bad |= json_object_set_new(it, "recorded", json_false());
        j->unrecorded += !recorded;
        if (it && j->items[i].pdq_low_quality)
            bad |= json_object_set_new(it, "pdq_ignored", json_string("quality_too_low"));
        bad |= !it || json_array_append_new(items, it) < 0;
        j->counters->match_matched += listed > 0;
        sodium_memzero(fp, sizeof fp);
        j->counters->match_pdq_ignored += j->items[i].pdq_low_quality;
    }
    j->counters->match_items += j->n;
    sitr_checks_add(j->checks, platform, j->n);
    j->body = bad ? NULL : json_pack("{s:o}", "items", items);
    if (!j->body) {
        if (!bad)
            return SITR_ENOMEM;
        json_decref(items);
        return SITR_ENOMEM;
    }
    return 0;
}

/* After the search, on the loop thread: record, then answer. */
static void finish(match_job_t *j)
{
    sitr_req_t *req = j->req;
    if (sitr_req_gone(req)) {
        job_done(j);
        return;
    }
    int rc = j->rc ? j->rc : build_answer(j);
    if (rc < 0) {
        sitr_api_reply_db_error(req, rc);
        job_done(j);
        return;
    }
    sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req),
             "match: %zu items, %zu case images and %zu case videos matched", j->n, j->nblocked,
             j->nblocked_videos);
    if (j->unrecorded)
        sitr_log(SITR_LOG_WARN, sitr_req_log_ids(req),
                 "%zu matched items not recorded: the block queue is full", j->unrecorded);
    j->counters->match_unrecorded += j->unrecorded;
    json_object_set_new(j->body, "recorded", json_boolean(j->unrecorded == 0));
    sitr_req_add_header(req, "Cache-Control", "no-store");
    sitr_req_reply_json(req, 200, j->body);
    j->body = NULL;
    job_done(j);
}

static void work_cb(uv_work_t *w)
{
    run_search(w->data);
}

static void after_work_cb(uv_work_t *w, int status)
{
    match_job_t *j = w->data;
    if (status < 0 && j->rc == 0)
        j->rc = SITR_EBUSY; /* cancelled: the loop is shutting down */
    pooled_inflight--;
    finish(j);
    if (pooled_inflight == 0 && idle_cb) {
        void (*cb)(void *) = idle_cb;
        idle_cb = NULL;
        cb(idle_arg);
    }
}

int sitr_api_match(sitr_req_t *req)
{
    sitr_server_t *srv = sitr_req_server(req);
    sitr_api_t *api = srv->app;
    if (!api || !api->replica || !sitr_replica_is_ready(api->replica)) {
        sitr_req_add_header(req, "Retry-After", "1");
        sitr_req_reply_error(req, 503, "not_ready",
                             "the match index is still loading; retry shortly", NULL);
        return 0;
    }
    json_t *body = sitr_req_json_body(req);
    if (!body)
        return 0;
    sitr_platform_error_t err = {0};
    sitr_match_item_t *items = NULL;
    sitr_video_in_t *videos = NULL;
    size_t n = 0;
    const sitr_videos_limits_t vlim = {.max_videos = srv->cfg->match_batch,
                                       .max_frames = srv->cfg->max_video_frames,
                                       .max_total_frames = srv->cfg->max_match_frames};
    int rc =
        sitr_platform_parse_match_v(body, srv->cfg->match_batch, &vlim, &items, &videos, &n, &err);
    json_decref(body);
    if (rc < 0) {
        if (strcmp(err.code, "internal") == 0)
            return SITR_ENOMEM;
        sitr_req_reply_error(req, 422, err.code, err.message, err.field[0] ? err.field : NULL);
        return 0;
    }
    match_job_t *j = calloc(1, sizeof *j);
    if (j) {
        j->hits = calloc(n * SITR_PLATFORM_MAX_MATCHES, sizeof *j->hits);
        j->found = calloc(n, sizeof *j->found);
        j->query = calloc(n, sizeof *j->query);
    }
    if (!j || !j->hits || !j->found || !j->query) {
        free(items);
        sitr_platform_videos_free(videos, n);
        job_free(j);
        return SITR_ENOMEM;
    }
    j->req = req;
    j->counters = &api->counters;
    j->blocks = api->blocks;
    j->checks = api->checks;
    j->oracle = api->oracle;
    j->items = items;
    j->videos = videos;
    j->n = n;
    make_query(j);
    /* The searches this request costs: an image item is one, a video item
     * one per frame. */
    size_t work = 0;
    for (size_t i = 0; i < n; i++)
        work += items[i].is_video ? videos[i].nframes : 1;
    j->ix = sitr_replica_indexes(api->replica);
    j->radius = (int)srv->cfg->match_threshold;
    j->work.data = j;
    sitr_req_ref(req);
    if (work <= INLINE_WORK) {
        run_search(j);
        finish(j);
        return 0;
    }
    rc = uv_queue_work(srv->loop, &j->work, work_cb, after_work_cb);
    if (rc < 0) {
        job_done(j);
        return SITR_EBUSY;
    }
    j->counters->match_pooled++;
    pooled_inflight++;
    return 0;
}
