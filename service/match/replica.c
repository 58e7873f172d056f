/* The replica: loads the matching indexes from PostgreSQL once, then keeps
 * them current by following the change log (see replica.h).
 *
 * Initial load: one uv_queue_work job opens its own blocking libpq
 * connection (the pool is non-blocking and refuses COPY; a worker thread may
 * block), and in a repeatable-read transaction reads sitr_changes_head()
 * and exports its snapshot in the first statement, then every live case
 * image, variant and upload with binary COPY.  The uploads (the bulk) are
 * split by heap block range between this connection and a second one that
 * imports the same snapshot (SET TRANSACTION SNAPSHOT), so the two server
 * backends scan in parallel and both see exactly the rows of head's
 * snapshot; the first transaction commits only after the second is done.
 * The snapshot contains exactly the changes up to head, so following the
 * log from head on misses nothing and applies nothing twice.  Rows are
 * parsed in place (no per-row allocation of ours) into staging arrays sized
 * from the planner's row estimate; then the PDQ indexes are bulk-built
 * (2 threads) while a third thread bulk-builds the four digest tables.
 * A failed load (database down) empties the indexes and is retried every
 * second.
 *
 * Following: a wake-up (NOTIFY on sitr_changes, the "catch up now" of a
 * (re)subscribed listener, or a 1 s poll timer in case LISTEN is broken)
 * reads sitr_changes_after(applied, 1000) through the async pool on the
 * loop thread and applies the batch in a worker (removals scan the id
 * arrays, which takes tens of milliseconds at 10M entries: not for the loop
 * thread); then it reads again until a batch comes back short.  Exactly one
 * job (load, fetch or apply) is in flight at a time, so changes are applied
 * in seq order, each once; a change that fails to apply (out of memory) is
 * retried, and `applied` never passes it.  Insertions are idempotent per
 * (hash, id) pair, so retrying a half-applied change is harmless.
 *
 * Partner lists (migrations/0009, 0012; replica_import.c): an import is
 * staged, then published.  Its one 'import_staged' row queues the case for
 * a background preparer (COPY of the case's images, a standalone PDQ
 * segment and digest tables, an acknowledgement in the database, which
 * sitr-admin waits for); its one 'import_added' row, the publication,
 * attaches what was prepared in O(1), so a million imported hashes are
 * matched milliseconds after the publication instead of after a million
 * change rows or a rebuild.  A source's withdrawal logs one
 * 'import_removed' row per case: the attached segment leaves as a whole.
 * All three stay in the log's order like any change.
 *
 * Withdrawal: sitr_case_withdraw logs one case_image_removed per image
 * before its case_withdrawn row, in the same transaction, so removals work
 * by image id (the erased rows have no hashes left) and case_withdrawn
 * itself needs no work here.
 *
 * "Present" bitsets (image ids, upload ids) remember which ids entered the
 * indexes, so that the linear remove-by-id scans run only for ids that are
 * really there (removals, replaced upload hashes), never for new uploads.
 * They are touched only by the one job in flight.
 *
 * Threads: the struct is owned by the loop thread; `applied` is atomic so
 * the matcher thread may read it; the indexes are thread-safe. */
#include "match/replica_int.h"

/* ---- present bitsets -------------------------------------------------- */

/* 1 if id may be in the indexes. */
static int present_get(const bitset_t *b, int64_t id)
{
    if (id < 0 || id >= PRESENT_MAX_ID)
        return 1;
    size_t w = (size_t)id >> 6;
    return w < b->nwords && (b->w[w] >> (id & 63) & 1);
}

/* Returns 0 or SITR_ENOMEM (the bit is then unknown: callers treat ids as
 * maybe present only above PRESENT_MAX_ID, so a failed growth must fail the
 * change, which is retried). */
int sitr_replica_present_set(bitset_t *b, int64_t id, int on)
{
    if (id < 0 || id >= PRESENT_MAX_ID)
        return 0;
    size_t w = (size_t)id >> 6;
    if (w >= b->nwords) {
        if (!on)
            return 0;
        size_t n = b->nwords ? b->nwords : 1024;
        while (n <= w)
            n *= 2;
        uint64_t *nw = realloc(b->w, n * sizeof *nw);
        if (!nw)
            return SITR_ENOMEM;
        memset(nw + b->nwords, 0, (n - b->nwords) * sizeof *nw);
        b->w = nw;
        b->nwords = n;
    }
    if (on)
        b->w[w] |= (uint64_t)1 << (id & 63);
    else
        b->w[w] &= ~((uint64_t)1 << (id & 63));
    return 0;
}

static void present_clear(bitset_t *b)
{
    free(b->w);
    b->w = NULL;
    b->nwords = 0;
}

/* ---- index mutations shared by load and follow ------------------------ */

static void remove_image(sitr_replica_t *r, int64_t id)
{
    if (!present_get(&r->image_present, id))
        return;
    sitr_index_remove_ids(r->ix.case_pdq, SITR_REPLICA_CASE_PDQ_ID(id, 0),
                          ~(uint64_t)((1u << SITR_REPLICA_VARIANT_BITS) - 1));
    sitr_digest_index_remove_ids(r->ix.case_md5, (uint64_t)id, ~(uint64_t)0);
    sitr_digest_index_remove_ids(r->ix.case_sha256, (uint64_t)id, ~(uint64_t)0);
    sitr_replica_present_set(&r->image_present, id, 0);
}

static void remove_upload(sitr_replica_t *r, int64_t id)
{
    if (!present_get(&r->upload_present, id))
        return;
    sitr_index_remove_ids(r->ix.upload_pdq, (uint64_t)id, ~(uint64_t)0);
    sitr_replica_video_remove(r->ix.upload_pdq, r->ix.upload_videos, id);
    sitr_digest_index_remove_ids(r->ix.upload_md5, (uint64_t)id, ~(uint64_t)0);
    sitr_digest_index_remove_ids(r->ix.upload_sha256, (uint64_t)id, ~(uint64_t)0);
    sitr_replica_present_set(&r->upload_present, id, 0);
}

/* Applies one change; 0 or < 0 (nothing to undo: a retry re-inserts the
 * same pairs, which is a no-op for those already in). */
int sitr_replica_apply_change(sitr_replica_t *r, const change_t *c)
{
    int rc = 0;
    switch (c->kind) {
    case CH_IMAGE_ADDED:
        if (!c->has_pdq && !c->has_md5 && !c->has_sha)
            return 0; /* erased since: its removal follows in the log */
        if ((rc = sitr_replica_present_set(&r->image_present, c->entity, 1)) < 0)
            return rc;
        if (c->has_pdq && c->quality >= SITR_PDQ_MIN_QUALITY) {
            rc = sitr_index_insert(r->ix.case_pdq, &c->pdq, SITR_REPLICA_CASE_PDQ_ID(c->entity, 0));
            for (int v = 0; rc >= 0 && v < c->nvariants; v++)
                rc = sitr_index_insert(r->ix.case_pdq, &c->variants[v],
                                       SITR_REPLICA_CASE_PDQ_ID(c->entity, v + 1));
        }
        if (rc >= 0 && c->has_md5)
            rc = sitr_digest_index_insert(r->ix.case_md5, c->md5, (uint64_t)c->entity);
        if (rc >= 0 && c->has_sha)
            rc = sitr_digest_index_insert(r->ix.case_sha256, c->sha, (uint64_t)c->entity);
        return rc < 0 ? rc : 0;
    case CH_IMAGE_REMOVED:
        remove_image(r, c->entity);
        return 0;
    case CH_UPLOAD_ADDED:
        /* New, or hashes replaced (or un-removed): drop what was there. */
        remove_upload(r, c->entity);
        if (!c->has_pdq && !c->has_md5 && !c->has_sha && !c->frames)
            return 0; /* removed since */
        if ((rc = sitr_replica_present_set(&r->upload_present, c->entity, 1)) < 0)
            return rc;
        if (c->has_pdq && c->quality >= SITR_PDQ_MIN_QUALITY)
            rc = sitr_index_insert(r->ix.upload_pdq, &c->pdq, (uint64_t)c->entity);
        if (rc >= 0 && c->frames) {
            long k =
                sitr_replica_video_add(r->ix.upload_videos, c->entity, c->frames, c->frames_len,
                                       c->duration, sitr_replica_video_insert, r->ix.upload_pdq);
            /* Malformed frames (the database checks only their length) are
             * skipped: the upload keeps its digests. */
            rc = k == SITR_EINVAL ? 0 : k < 0 ? (int)k : 0;
        }
        if (rc >= 0 && c->has_md5)
            rc = sitr_digest_index_insert(r->ix.upload_md5, c->md5, (uint64_t)c->entity);
        if (rc >= 0 && c->has_sha)
            rc = sitr_digest_index_insert(r->ix.upload_sha256, c->sha, (uint64_t)c->entity);
        return rc < 0 ? rc : 0;
    case CH_UPLOAD_REMOVED:
        remove_upload(r, c->entity);
        return 0;
    case CH_VIDEO_ADDED:
        if (!c->frames && !c->has_md5 && !c->has_sha)
            return 0; /* erased since: its removal follows in the log */
        if (c->frames) {
            long k = sitr_replica_video_add(r->ix.case_videos, c->entity, c->frames, c->frames_len,
                                            c->duration, sitr_replica_video_insert, r->ix.case_pdq);
            if (k < 0 && k != SITR_EINVAL)
                return (int)k;
        }
        if (c->has_md5)
            rc = sitr_digest_index_insert(r->ix.case_md5, c->md5, sitr_vid_digest(c->entity));
        if (rc >= 0 && c->has_sha)
            rc = sitr_digest_index_insert(r->ix.case_sha256, c->sha, sitr_vid_digest(c->entity));
        return rc < 0 ? rc : 0;
    case CH_VIDEO_REMOVED:
        sitr_replica_video_remove(r->ix.case_pdq, r->ix.case_videos, c->entity);
        sitr_digest_index_remove_ids(r->ix.case_md5, sitr_vid_digest(c->entity), ~(uint64_t)0);
        sitr_digest_index_remove_ids(r->ix.case_sha256, sitr_vid_digest(c->entity), ~(uint64_t)0);
        return 0;
    case CH_IMPORT_STAGED:
        return sitr_replica_import_staged(r, c->entity);
    case CH_IMPORT_ADDED:
        return sitr_replica_import_add(r, c->entity);
    case CH_IMPORT_REMOVED:
        return sitr_replica_import_drop(r, c->entity);
    case CH_PLATFORM: /* the keys are reloaded on the loop thread */
    case CH_OTHER:
        return 0;
    }
    return 0;
}

void sitr_replica_clear_indexes(sitr_replica_t *r)
{
    /* mask 0: every id matches. */
    sitr_index_remove_ids(r->ix.case_pdq, 0, 0);
    sitr_index_remove_ids(r->ix.upload_pdq, 0, 0);
    sitr_digest_index_remove_ids(r->ix.case_md5, 0, 0);
    sitr_digest_index_remove_ids(r->ix.case_sha256, 0, 0);
    sitr_digest_index_remove_ids(r->ix.upload_md5, 0, 0);
    sitr_digest_index_remove_ids(r->ix.upload_sha256, 0, 0);
    sitr_vcat_clear(r->ix.case_videos);
    sitr_vcat_clear(r->ix.upload_videos);
    present_clear(&r->image_present);
    present_clear(&r->upload_present);
}

/* ---- metrics ------------------------------------------------------------ */

static void metrics_source(FILE *out, void *arg)
{
    const sitr_replica_t *r = arg;
    fprintf(out,
            "# HELP sitr_replica_ready 1 once the index is loaded.\n"
            "# TYPE sitr_replica_ready gauge\n"
            "sitr_replica_ready %d\n"
            "# HELP sitr_replica_applied_seq Highest change-log seq applied to the index.\n"
            "# TYPE sitr_replica_applied_seq gauge\n"
            "sitr_replica_applied_seq %" PRId64 "\n"
            "# HELP sitr_replica_changes_applied_total Change-log rows applied.\n"
            "# TYPE sitr_replica_changes_applied_total counter\n"
            "sitr_replica_changes_applied_total %llu\n"
            "# HELP sitr_replica_fetch_errors_total Failed reads of the change log.\n"
            "# TYPE sitr_replica_fetch_errors_total counter\n"
            "sitr_replica_fetch_errors_total %llu\n"
            "# HELP sitr_replica_load_seconds Duration of the initial index load.\n"
            "# TYPE sitr_replica_load_seconds gauge\n"
            "sitr_replica_load_seconds %.3f\n"
            "# HELP sitr_platform_keys Live platform API keys held in memory.\n"
            "# TYPE sitr_platform_keys gauge\n"
            "sitr_platform_keys %zu\n"
            "# HELP sitr_platform_key_reloads_total Reloads of the platform keys after a change.\n"
            "# TYPE sitr_platform_key_reloads_total counter\n"
            "sitr_platform_key_reloads_total %llu\n"
            "# HELP sitr_platform_key_reload_errors_total Failed reloads of the platform keys "
            "(retried).\n"
            "# TYPE sitr_platform_key_reload_errors_total counter\n"
            "sitr_platform_key_reload_errors_total %llu\n"
            "# HELP sitr_index_entries Live entries per index.\n"
            "# TYPE sitr_index_entries gauge\n"
            "sitr_index_entries{index=\"case_pdq\"} %zu\n"
            "sitr_index_entries{index=\"upload_pdq\"} %zu\n"
            "sitr_index_entries{index=\"case_md5\"} %zu\n"
            "sitr_index_entries{index=\"case_sha256\"} %zu\n"
            "sitr_index_entries{index=\"upload_md5\"} %zu\n"
            "sitr_index_entries{index=\"upload_sha256\"} %zu\n"
            "# HELP sitr_index_videos Videos in the catalogues (case videos, video uploads).\n"
            "# TYPE sitr_index_videos gauge\n"
            "sitr_index_videos{index=\"case_videos\"} %zu\n"
            "sitr_index_videos{index=\"upload_videos\"} %zu\n"
            "# HELP sitr_index_video_frames Stored video frames in the catalogues.\n"
            "# TYPE sitr_index_video_frames gauge\n"
            "sitr_index_video_frames{index=\"case_videos\"} %zu\n"
            "sitr_index_video_frames{index=\"upload_videos\"} %zu\n",
            r->ready, atomic_load(&((sitr_replica_t *)r)->applied), r->changes_applied,
            r->fetch_errors, r->ready ? r->load_seconds : 0.0, sitr_pkeys_size(r->pkeys),
            r->pkeys_reloads, r->pkeys_reload_errors, sitr_index_size(r->ix.case_pdq),
            sitr_index_size(r->ix.upload_pdq), sitr_digest_index_size(r->ix.case_md5),
            sitr_digest_index_size(r->ix.case_sha256), sitr_digest_index_size(r->ix.upload_md5),
            sitr_digest_index_size(r->ix.upload_sha256), sitr_vcat_size(r->ix.case_videos),
            sitr_vcat_size(r->ix.upload_videos), sitr_vcat_frames(r->ix.case_videos),
            sitr_vcat_frames(r->ix.upload_videos));
    sitr_replica_imports_metrics(out, (sitr_replica_t *)r);
}

/* ---- life cycle --------------------------------------------------------- */

static void free_replica(sitr_replica_t *r)
{
    sitr_replica_imports_free(r);
    sitr_index_free(r->ix.case_pdq);
    sitr_index_free(r->ix.upload_pdq);
    sitr_digest_index_free(r->ix.case_md5);
    sitr_digest_index_free(r->ix.case_sha256);
    sitr_digest_index_free(r->ix.upload_md5);
    sitr_digest_index_free(r->ix.upload_sha256);
    sitr_vcat_free(r->ix.case_videos);
    sitr_vcat_free(r->ix.upload_videos);
    present_clear(&r->image_present);
    present_clear(&r->upload_present);
    sitr_replica_free_batch(r->batch, r->nbatch);
    sitr_pkeys_free(r->pkeys);
    sitr_pkeys_free(r->load_pkeys);
    PQfinish(r->import_conn);
    free(r->conninfo);
    free(r);
}

int sitr_replica_start(const sitr_replica_opts_t *o, sitr_replica_t **out, sitr_err_t *err)
{
    *out = NULL;
    if (!o || !o->loop || !o->db || !o->database_url)
        return sitr_err_set(err, SITR_EINVAL, "replica: no database configured");
    sitr_replica_t *r = calloc(1, sizeof *r);
    if (!r)
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    r->loop = o->loop;
    r->db = o->db;
    r->on_ready = o->on_ready;
    r->on_ready_arg = o->arg;
    r->conninfo = strdup(o->database_url);
    r->ix.case_pdq = sitr_index_new();
    r->ix.upload_pdq = sitr_index_new();
    r->ix.case_md5 = sitr_digest_index_new(SITR_DIGEST_MD5_BYTES);
    r->ix.case_sha256 = sitr_digest_index_new(SITR_DIGEST_SHA256_BYTES);
    r->ix.upload_md5 = sitr_digest_index_new(SITR_DIGEST_MD5_BYTES);
    r->ix.upload_sha256 = sitr_digest_index_new(SITR_DIGEST_SHA256_BYTES);
    r->ix.case_videos = sitr_vcat_new(0);
    r->ix.upload_videos = sitr_vcat_new(1);
    if (!r->conninfo || !r->ix.case_pdq || !r->ix.upload_pdq || !r->ix.case_md5 ||
        !r->ix.case_sha256 || !r->ix.upload_md5 || !r->ix.upload_sha256 || !r->ix.case_videos ||
        !r->ix.upload_videos) {
        free_replica(r);
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    }
    atomic_init(&r->applied, 0);
    if (sitr_replica_imports_init(r) < 0) {
        free_replica(r);
        return sitr_err_set(err, SITR_ENOMEM, "cannot start the import preparer");
    }
    uv_timer_init(r->loop, &r->poll);
    r->poll.data = r;
    uv_timer_start(&r->poll, sitr_replica_on_poll, POLL_MS, POLL_MS);
    if (o->metrics && sitr_metrics_add_source(o->metrics, metrics_source, r) < 0)
        sitr_log(SITR_LOG_WARN, NULL, "replica metrics not exported: too many metric sources");
    sitr_replica_start_load(r);
    *out = r;
    return 0;
}

void sitr_replica_load_stats(const sitr_replica_t *r, sitr_replica_load_stats_t *out)
{
    *out = r->load_stats;
}

int sitr_replica_is_ready(const sitr_replica_t *r)
{
    return r && r->ready;
}

int sitr_replica_find_platform(const sitr_replica_t *r,
                               const uint8_t digest[SITR_KEYS_DIGEST_BYTES], int64_t *id,
                               char name[SITR_PKEYS_NAME_MAX + 1])
{
    if (!r || !r->ready)
        return SITR_EBUSY;
    return sitr_pkeys_find(r->pkeys, digest, id, name);
}

const sitr_replica_indexes_t *sitr_replica_indexes(const sitr_replica_t *r)
{
    return &r->ix;
}

int64_t sitr_replica_applied_seq(const sitr_replica_t *r)
{
    return atomic_load(&((sitr_replica_t *)r)->applied);
}

void sitr_replica_on_applied(sitr_replica_t *r, void (*cb)(int64_t seq, void *arg), void *arg)
{
    r->applied_cb = cb;
    r->applied_arg = arg;
}

void sitr_replica_maybe_finish_close(sitr_replica_t *r)
{
    if (!r->closing || r->job != JOB_NONE || !r->timer_closed || r->holds > 0 ||
        r->pkeys_inflight || r->presence_inflight || r->staged_inflight)
        return;
    void (*done)(void *) = r->done;
    void *arg = r->done_arg;
    free_replica(r);
    if (done)
        done(arg);
}

void sitr_replica_hold(sitr_replica_t *r)
{
    r->holds++;
}

void sitr_replica_release(sitr_replica_t *r)
{
    if (r->holds > 0)
        r->holds--;
    sitr_replica_maybe_finish_close(r);
}

static void on_timer_closed(uv_handle_t *h)
{
    sitr_replica_t *r = h->data;
    r->timer_closed = 1;
    sitr_replica_maybe_finish_close(r);
}

void sitr_replica_close(sitr_replica_t *r, void (*done)(void *arg), void *arg)
{
    if (!r) {
        if (done)
            done(arg);
        return;
    }
    if (r->closing)
        return;
    r->closing = 1;
    r->applied_cb = NULL;
    r->done = done;
    r->done_arg = arg;
    uv_timer_stop(&r->poll);
    uv_close((uv_handle_t *)&r->poll, on_timer_closed);
}
