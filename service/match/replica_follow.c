/* The replica's job state machine and change-log follower (see replica.c
 * for the whole design): starts the load and applies its result, then on
 * each wake-up reads the changes after the last applied one through the
 * async pool and applies them in a worker, in seq order, each once.  Loop
 * thread, except apply_work. */
#include "match/replica_int.h"

/* ---- the job state machine (loop thread) ------------------------------ */

static void kick(sitr_replica_t *r);
void sitr_replica_maybe_finish_close(sitr_replica_t *r);

static void set_applied(sitr_replica_t *r, int64_t seq)
{
    atomic_store(&r->applied, seq);
    if (r->applied_cb)
        r->applied_cb(seq, r->applied_arg);
}

static void on_notify(const char *channel, const char *payload, void *arg)
{
    (void)channel;
    (void)payload; /* a hint only: we always read after `applied` */
    sitr_replica_t *r = arg;
    if (!r->closing)
        kick(r);
}

static void load_done(uv_work_t *w, int status)
{
    sitr_replica_t *r = w->data;
    r->job = JOB_NONE;
    if (r->closing) {
        sitr_replica_maybe_finish_close(r);
        return;
    }
    if (status != 0 || r->load_rc < 0) {
        r->loads_failed++;
        sitr_log(SITR_LOG_WARN, NULL, "index load failed (retrying): %s",
                 r->load_msg[0] ? r->load_msg : "cancelled");
        return; /* the poll timer retries */
    }
    sitr_log(SITR_LOG_INFO, NULL,
             "index loaded in %.2f s: %zu case images (%zu PDQ entries), %zu uploads, "
             "change log at %" PRId64,
             r->load_seconds, r->load_images, sitr_index_size(r->ix.case_pdq), r->load_uploads,
             r->load_head);
    const sitr_replica_load_stats_t *ls = &r->load_stats;
    sitr_log(SITR_LOG_DEBUG, NULL,
             "index load phases: copy %.2f s (client CPU %.2f s, %d connections), present %.2f s, "
             "build %.2f s (PDQ %.2f s, digests %.2f s)",
             ls->copy_s, ls->copy_cpu_s, ls->connections, ls->present_s, ls->build_s,
             ls->pdq_build_s, ls->digest_build_s);
    sitr_pkeys_free(r->pkeys);
    r->pkeys = r->load_pkeys;
    r->load_pkeys = NULL;
    sitr_log(SITR_LOG_INFO, NULL, "platform keys loaded: %zu platforms", sitr_pkeys_size(r->pkeys));
    r->ready = 1;
    set_applied(r, r->load_head);
    if (!r->listening) {
        if (sitr_db_listen(r->db, "sitr_changes", on_notify, r) == 0)
            r->listening = 1;
        else
            sitr_log(SITR_LOG_WARN, NULL, "cannot LISTEN for changes; polling only");
    }
    if (r->on_ready)
        r->on_ready(r->on_ready_arg);
    r->presence_tick = 0;
    sitr_replica_imports_tick(r); /* presence at once, and the staged imports */
    kick(r);
}

void sitr_replica_start_load(sitr_replica_t *r)
{
    r->job = JOB_LOAD;
    r->work.data = r;
    if (uv_queue_work(r->loop, &r->work, sitr_replica_load_work, load_done) != 0) {
        r->job = JOB_NONE;
        r->loads_failed++;
    }
}

static int parse_hex_field(PGresult *res, int row, int col, uint8_t *out, size_t n)
{
    if (PQgetisnull(res, row, col))
        return 0;
    const char *s = PQgetvalue(res, row, col);
    return sitr_hex_decode(s, strlen(s), out, n) == 0 ? 1 : SITR_EPROTO;
}

static change_kind_t parse_kind(const char *k)
{
    if (strcmp(k, "case_image_added") == 0)
        return CH_IMAGE_ADDED;
    if (strcmp(k, "case_image_removed") == 0)
        return CH_IMAGE_REMOVED;
    if (strcmp(k, "upload_added") == 0)
        return CH_UPLOAD_ADDED;
    if (strcmp(k, "upload_removed") == 0)
        return CH_UPLOAD_REMOVED;
    if (strcmp(k, "case_video_added") == 0)
        return CH_VIDEO_ADDED;
    if (strcmp(k, "case_video_removed") == 0)
        return CH_VIDEO_REMOVED;
    if (strcmp(k, "platform_changed") == 0)
        return CH_PLATFORM;
    if (strcmp(k, "import_staged") == 0)
        return CH_IMPORT_STAGED;
    if (strcmp(k, "import_added") == 0)
        return CH_IMPORT_ADDED;
    if (strcmp(k, "import_removed") == 0)
        return CH_IMPORT_REMOVED;
    return CH_OTHER;
}

/* Frees a batch of n changes and their frames. */
void sitr_replica_free_batch(change_t *b, size_t n)
{
    for (size_t i = 0; b && i < n; i++)
        free(b[i].frames);
    free(b);
}

/* A video's packed frames from a hex column: 1 (c->frames set), 0 (NULL),
 * or < 0. */
static int parse_frames(PGresult *res, int row, int col, change_t *c)
{
    c->duration = PQgetisnull(res, row, col + 1) ? -1 : strtod(PQgetvalue(res, row, col + 1), NULL);
    if (PQgetisnull(res, row, col))
        return 0;
    const char *s = PQgetvalue(res, row, col);
    size_t hl = strlen(s);
    if (hl == 0 || hl % 2)
        return SITR_EPROTO;
    c->frames = malloc(hl / 2);
    if (!c->frames)
        return SITR_ENOMEM;
    c->frames_len = hl / 2;
    return sitr_hex_decode(s, hl, c->frames, c->frames_len) == 0 ? 1 : SITR_EPROTO;
}

/* Decodes the rows of a fetch; < 0 if one is malformed (nothing applied). */
static int parse_batch(sitr_replica_t *r, PGresult *res)
{
    int n = PQntuples(res);
    r->nbatch = 0;
    if (n == 0)
        return 0;
    change_t *b = calloc((size_t)n, sizeof *b);
    if (!b)
        return SITR_ENOMEM;
    int64_t prev = atomic_load(&r->applied);
    for (int i = 0; i < n; i++) {
        change_t *c = &b[i];
        c->seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        c->kind = parse_kind(PQgetvalue(res, i, 1));
        /* Reloaded even if this batch fails: a reload is never wrong. */
        r->pkeys_stale |= c->kind == CH_PLATFORM;
        c->entity = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        if (c->seq <= prev) {
            sitr_replica_free_batch(b, (size_t)n);
            return SITR_EPROTO; /* the log must come in increasing seq order */
        }
        prev = c->seq;
        int k1 = parse_hex_field(res, i, 3, c->pdq.b, SITR_PDQ_BYTES);
        c->quality = PQgetisnull(res, i, 4) ? 0 : atoi(PQgetvalue(res, i, 4));
        int k2 = parse_hex_field(res, i, 5, c->md5, sizeof c->md5);
        int k3 = parse_hex_field(res, i, 6, c->sha, sizeof c->sha);
        if (k1 < 0 || k2 < 0 || k3 < 0) {
            sitr_replica_free_batch(b, (size_t)n);
            return SITR_EPROTO;
        }
        c->has_pdq = k1, c->has_md5 = k2, c->has_sha = k3;
        if (!PQgetisnull(res, i, 7)) {
            const char *s = PQgetvalue(res, i, 7);
            while (*s && c->nvariants < 7) {
                if (sitr_hex_decode(s, SITR_PDQ_HEX_LEN, c->variants[c->nvariants].b,
                                    SITR_PDQ_BYTES) < 0) {
                    sitr_replica_free_batch(b, (size_t)n);
                    return SITR_EPROTO;
                }
                c->nvariants++;
                s += SITR_PDQ_HEX_LEN;
                if (*s == ',')
                    s++;
            }
        }
        int kf = parse_frames(res, i, 8, c);
        if (kf < 0) {
            sitr_replica_free_batch(b, (size_t)n);
            return kf;
        }
    }
    r->batch = b;
    r->nbatch = (size_t)n;
    return 0;
}

static void apply_work(uv_work_t *w)
{
    sitr_replica_t *r = w->data;
    r->batch_rc = 0;
    r->batch_done = atomic_load(&r->applied);
    for (size_t i = 0; i < r->nbatch; i++) {
        int rc = sitr_replica_apply_change(r, &r->batch[i]);
        if (rc < 0) {
            r->batch_rc = rc;
            break;
        }
        r->batch_done = r->batch[i].seq;
    }
}

static void apply_done(uv_work_t *w, int status)
{
    sitr_replica_t *r = w->data;
    (void)status;
    int full = r->nbatch == FETCH_LIMIT;
    size_t n = r->nbatch;
    int64_t before = atomic_load(&r->applied);
    sitr_replica_free_batch(r->batch, r->nbatch);
    r->batch = NULL;
    r->nbatch = 0;
    r->job = JOB_NONE;
    if (r->batch_done > before) {
        r->changes_applied += n; /* approximate when the batch stopped early */
        set_applied(r, r->batch_done);
    }
    if (r->closing) {
        sitr_replica_maybe_finish_close(r);
        return;
    }
    if (r->batch_rc < 0) {
        sitr_log(SITR_LOG_ERROR, NULL, "applying change %" PRId64 " failed: %s (will retry)",
                 r->batch_done + 1, sitr_strerror(r->batch_rc));
        return; /* the poll timer retries from the failed change */
    }
    if (full || r->again) {
        r->again = 0;
        kick(r);
    }
}

static void on_fetched(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    sitr_replica_t *r = arg;
    (void)sqlstate;
    r->job = JOB_NONE;
    if (r->closing) {
        sitr_replica_maybe_finish_close(r);
        return;
    }
    if (rc < 0) {
        r->fetch_errors++;
        if (!r->warned_fetch)
            sitr_log(SITR_LOG_WARN, NULL, "reading the change log failed: %s (retrying)",
                     sitr_strerror(rc));
        r->warned_fetch = 1;
        return;
    }
    r->warned_fetch = 0;
    rc = parse_batch(r, res);
    if (r->pkeys_stale)
        sitr_replica_reload_pkeys(r);
    if (rc < 0) {
        sitr_log(SITR_LOG_ERROR, NULL, "unexpected change log rows: %s", sitr_strerror(rc));
        return;
    }
    if (r->nbatch == 0) {
        if (r->again) {
            r->again = 0;
            kick(r);
        }
        return;
    }
    r->job = JOB_APPLY;
    r->work.data = r;
    if (uv_queue_work(r->loop, &r->work, apply_work, apply_done) != 0) {
        sitr_replica_free_batch(r->batch, r->nbatch);
        r->batch = NULL;
        r->nbatch = 0;
        r->job = JOB_NONE;
    }
}

/* Variants as one comma-separated hex string, in variant order. */
static const char FETCH_SQL[] =
    "SELECT seq, kind, entity_id, encode(pdq, 'hex'), quality, encode(md5, 'hex'), "
    "encode(sha256, 'hex'), (SELECT string_agg(encode(x, 'hex'), ',' ORDER BY o) "
    "FROM unnest(variants) WITH ORDINALITY AS t(x, o)), encode(frames, 'hex'), duration "
    "FROM sitr_changes_after($1::bigint, $2::int) ORDER BY seq";

static void kick(sitr_replica_t *r)
{
    if (r->closing || !r->ready)
        return;
    if (r->job != JOB_NONE) {
        r->again = 1;
        return;
    }
    char after[24], limit[16];
    snprintf(after, sizeof after, "%" PRId64, atomic_load(&r->applied));
    snprintf(limit, sizeof limit, "%d", FETCH_LIMIT);
    const char *values[2] = {after, limit};
    r->job = JOB_FETCH;
    r->again = 0;
    if (sitr_db_submit(r->db, FETCH_SQL, 2, values, on_fetched, r) < 0) {
        r->job = JOB_NONE; /* queue full or closing: the poll timer retries */
        r->fetch_errors++;
    }
}

void sitr_replica_on_poll(uv_timer_t *t)
{
    sitr_replica_t *r = t->data;
    if (r->closing)
        return;
    sitr_replica_imports_tick(r); /* presence, loading or not */
    if (!r->ready) {
        if (r->job == JOB_NONE)
            sitr_replica_start_load(r);
        return;
    }
    if (r->pkeys_stale)
        sitr_replica_reload_pkeys(r);
    kick(r);
}

/* ---- platform keys (loop thread) -------------------------------------- */

static void on_pkeys(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    sitr_replica_t *r = arg;
    (void)sqlstate;
    r->pkeys_inflight = 0;
    if (r->closing) {
        sitr_replica_maybe_finish_close(r);
        return;
    }
    sitr_pkeys_t *k = NULL;
    if (rc == 0)
        rc = sitr_pkeys_from_result(res, &k);
    if (rc < 0) {
        /* The keys in use stay (the database is the only one who could
         * tell otherwise); the poll timer retries. */
        r->pkeys_stale = 1;
        r->pkeys_reload_errors++;
        if (!r->warned_pkeys)
            sitr_log(SITR_LOG_WARN, NULL, "reloading the platform keys failed: %s (retrying)",
                     sitr_strerror(rc));
        r->warned_pkeys = 1;
        return;
    }
    sitr_pkeys_free(r->pkeys);
    r->pkeys = k;
    r->pkeys_reloads++;
    r->warned_pkeys = 0;
    sitr_log(SITR_LOG_INFO, NULL, "platform keys reloaded: %zu platforms", sitr_pkeys_size(k));
    if (r->pkeys_stale)
        sitr_replica_reload_pkeys(r); /* changed again while this one ran */
}

/* Reads every live key again (a handful of rows) and swaps the set when
 * it arrives.  The read starts after the change was seen, so it sees that
 * change or a later state. */
void sitr_replica_reload_pkeys(sitr_replica_t *r)
{
    if (r->closing || r->pkeys_inflight)
        return;
    r->pkeys_stale = 0;
    r->pkeys_inflight = 1;
    if (sitr_db_submit(r->db, SITR_PKEYS_SQL, 0, NULL, on_pkeys, r) < 0) {
        r->pkeys_inflight = 0;
        r->pkeys_stale = 1; /* the poll timer retries */
        r->pkeys_reload_errors++;
    }
}
