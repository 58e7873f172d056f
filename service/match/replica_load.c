/* The replica's initial load (see replica.c for the whole design): one
 * uv_queue_work job reads every live case image, variant and upload with
 * binary COPY, and the live platform keys, in one snapshot over its own
 * blocking connections, stages them, and bulk-builds the PDQ indexes and
 * digest tables.  Worker thread;
 * the result is applied on the loop thread by replica_follow.c. */
#include "match/replica_int.h"

/* ---- initial load (worker thread) ------------------------------------- */

/* Where the time of the last load went (see sitr_replica_load_stats). */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct entries {
    sitr_index_entry_t *v;
    size_t n, cap;
} entries_t;

/* Staged digest pairs: keys (key_len bytes each) and ids side by side, the
 * layout sitr_digest_index_bulk_build reads. */
typedef struct digests {
    uint8_t *keys;
    uint64_t *ids;
    size_t n, cap, key_len;
} digests_t;

/* Everything one COPY connection collected. */
typedef struct stage {
    entries_t case_pdq, upload_pdq;
    digests_t case_md5, case_sha, upload_md5, upload_sha;
    size_t images, variants, uploads, videos, video_uploads;
    sitr_vcat_t *case_videos, *upload_videos; /* filled as rows arrive (thread-safe) */
    void *ids;                                /* sitr_replica_import_drop's id list (id_row) */
} stage_t;

static void stage_init(stage_t *s)
{
    memset(s, 0, sizeof *s);
    s->case_md5.key_len = s->upload_md5.key_len = SITR_DIGEST_MD5_BYTES;
    s->case_sha.key_len = s->upload_sha.key_len = SITR_DIGEST_SHA256_BYTES;
}

static void digests_free(digests_t *d)
{
    free(d->keys);
    free(d->ids);
    d->keys = NULL;
    d->ids = NULL;
    d->n = d->cap = 0;
}

static void stage_free(stage_t *s)
{
    free(s->case_pdq.v);
    free(s->upload_pdq.v);
    s->case_pdq.v = s->upload_pdq.v = NULL;
    digests_free(&s->case_md5);
    digests_free(&s->case_sha);
    digests_free(&s->upload_md5);
    digests_free(&s->upload_sha);
}

/* Capacity hints come from the planner's row estimate: untouched capacity
 * costs only address space, a too small one costs a doubling realloc. */
static int entries_reserve(entries_t *e, size_t cap)
{
    if (cap <= e->cap)
        return 0;
    sitr_index_entry_t *nv = realloc(e->v, cap * sizeof *nv);
    if (!nv)
        return SITR_ENOMEM;
    e->v = nv;
    e->cap = cap;
    return 0;
}

static int entries_push(entries_t *e, const uint8_t *hash, uint64_t id)
{
    if (e->n == e->cap && entries_reserve(e, e->cap ? e->cap * 2 : 65536) < 0)
        return SITR_ENOMEM;
    memcpy(e->v[e->n].hash.b, hash, SITR_PDQ_BYTES);
    e->v[e->n].id = id;
    e->n++;
    return 0;
}

static int digests_reserve(digests_t *d, size_t cap)
{
    if (cap <= d->cap)
        return 0;
    uint8_t *nk = realloc(d->keys, cap * d->key_len);
    if (!nk)
        return SITR_ENOMEM;
    d->keys = nk;
    uint64_t *ni = realloc(d->ids, cap * sizeof *ni);
    if (!ni)
        return SITR_ENOMEM;
    d->ids = ni;
    d->cap = cap;
    return 0;
}

static int digests_push(digests_t *d, const uint8_t *key, uint64_t id)
{
    if (d->n == d->cap && digests_reserve(d, d->cap ? d->cap * 2 : 65536) < 0)
        return SITR_ENOMEM;
    memcpy(d->keys + d->n * d->key_len, key, d->key_len);
    d->ids[d->n] = id;
    d->n++;
    return 0;
}

/* A field of a binary COPY row: len -1 = NULL. */
typedef struct field {
    const uint8_t *p;
    int32_t len;
} field_t;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int16_t be16(const uint8_t *p)
{
    return (int16_t)((uint16_t)p[0] << 8 | p[1]);
}

/* Splits one binary COPY tuple into nf fields (pointers into the message,
 * no copies); skips the file header when *header is 0.  Returns 1 for a
 * row, 0 for the trailer, < 0 if malformed. */
static int copy_row(const uint8_t *p, size_t n, int *header, field_t *f, int nf)
{
    static const uint8_t sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
    const uint8_t *end = p + n;
    if (!*header) {
        if (n < 19 || memcmp(p, sig, sizeof sig) != 0)
            return SITR_EPROTO;
        uint32_t ext = be32(p + 15);
        if (ext > n - 19)
            return SITR_EPROTO;
        p += 19 + ext;
        *header = 1;
    }
    if (end - p < 2)
        return SITR_EPROTO;
    int16_t cnt = be16(p);
    p += 2;
    if (cnt == -1)
        return 0;
    if (cnt != nf)
        return SITR_EPROTO;
    for (int i = 0; i < nf; i++) {
        if (end - p < 4)
            return SITR_EPROTO;
        int32_t len = (int32_t)be32(p);
        p += 4;
        if (len < -1 || (len > 0 && end - p < len))
            return SITR_EPROTO;
        f[i].p = p;
        f[i].len = len;
        if (len > 0)
            p += len;
    }
    return 1;
}

static int field_hash(const field_t *f, size_t len)
{
    return f->len == (int32_t)len;
}

typedef int (*row_fn)(stage_t *s, const field_t *f);

/* image_id int8, pdq bytea, quality int2, md5 bytea, sha256 bytea */
static int image_row(stage_t *s, const field_t *f)
{
    if (f[0].len != 8)
        return SITR_EPROTO;
    int64_t id = be64(f[0].p);
    int rc = 0;
    s->images++;
    if (field_hash(&f[1], SITR_PDQ_BYTES) && f[2].len == 2 && be16(f[2].p) >= SITR_PDQ_MIN_QUALITY)
        rc = entries_push(&s->case_pdq, f[1].p, SITR_REPLICA_CASE_PDQ_ID(id, 0));
    if (rc == 0 && field_hash(&f[3], SITR_DIGEST_MD5_BYTES))
        rc = digests_push(&s->case_md5, f[3].p, (uint64_t)id);
    if (rc == 0 && field_hash(&f[4], SITR_DIGEST_SHA256_BYTES))
        rc = digests_push(&s->case_sha, f[4].p, (uint64_t)id);
    return rc;
}

/* image_id int8, variant int2, pdq bytea, quality int2 */
static int variant_row(stage_t *s, const field_t *f)
{
    if (f[0].len != 8 || f[1].len != 2 || !field_hash(&f[2], SITR_PDQ_BYTES))
        return SITR_EPROTO;
    int variant = be16(f[1].p);
    if (variant < 1 || variant > 7)
        return SITR_EPROTO;
    s->variants++;
    if (f[3].len != 2 || be16(f[3].p) < SITR_PDQ_MIN_QUALITY)
        return 0;
    return entries_push(&s->case_pdq, f[2].p, SITR_REPLICA_CASE_PDQ_ID(be64(f[0].p), variant));
}

static int stage_entry(void *arg, const sitr_pdq_t *hash, uint64_t id)
{
    return entries_push(arg, hash->b, id);
}

/* A float4 field (NULL or malformed: -1, "unknown"). */
static double field_real(const field_t *f)
{
    if (f->len != 4)
        return -1;
    uint32_t bits = be32(f->p);
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* video_id int8, md5 bytea, sha256 bytea, frames bytea, duration float4 */
static int video_row(stage_t *s, const field_t *f)
{
    if (f[0].len != 8)
        return SITR_EPROTO;
    int64_t id = be64(f[0].p);
    int rc = 0;
    s->videos++;
    if (f[3].len > 0) {
        long k = sitr_replica_video_add(s->case_videos, id, f[3].p, (size_t)f[3].len,
                                        field_real(&f[4]), stage_entry, &s->case_pdq);
        if (k < 0 && k != SITR_EINVAL) /* malformed frames: skipped, digests kept */
            return (int)k;
    }
    if (field_hash(&f[1], SITR_DIGEST_MD5_BYTES))
        rc = digests_push(&s->case_md5, f[1].p, sitr_vid_digest(id));
    if (rc == 0 && field_hash(&f[2], SITR_DIGEST_SHA256_BYTES))
        rc = digests_push(&s->case_sha, f[2].p, sitr_vid_digest(id));
    return rc;
}

/* upload_id int8, pdq bytea, quality int2, md5 bytea, sha256 bytea, frames
 * bytea, duration float4 */
static int upload_row(stage_t *s, const field_t *f)
{
    if (f[0].len != 8)
        return SITR_EPROTO;
    int64_t id = be64(f[0].p);
    int rc = 0;
    s->uploads++;
    if (field_hash(&f[1], SITR_PDQ_BYTES) && f[2].len == 2 && be16(f[2].p) >= SITR_PDQ_MIN_QUALITY)
        rc = entries_push(&s->upload_pdq, f[1].p, (uint64_t)id);
    if (rc == 0 && field_hash(&f[3], SITR_DIGEST_MD5_BYTES))
        rc = digests_push(&s->upload_md5, f[3].p, (uint64_t)id);
    if (rc == 0 && field_hash(&f[4], SITR_DIGEST_SHA256_BYTES))
        rc = digests_push(&s->upload_sha, f[4].p, (uint64_t)id);
    if (rc == 0 && f[5].len > 0) {
        s->video_uploads++;
        long k = sitr_replica_video_add(s->upload_videos, id, f[5].p, (size_t)f[5].len,
                                        field_real(&f[6]), stage_entry, &s->upload_pdq);
        rc = k == SITR_EINVAL ? 0 : k < 0 ? (int)k : 0;
    }
    return rc;
}

/* Runs one COPY ... TO STDOUT (FORMAT binary) and feeds each row to fn.
 * msg (msglen bytes) receives the reason of a failure. */
static int copy_rows(PGconn *c, const char *sql, int nf, row_fn fn, stage_t *s, char *msg,
                     size_t msglen)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        snprintf(msg, msglen, "COPY failed: %s", PQerrorMessage(c));
        PQclear(res);
        return SITR_EDB;
    }
    PQclear(res);
    int rc = 0, header = 0;
    field_t f[8];
    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(c, &buf, 0);
        if (n == -1)
            break;
        if (n < 0) {
            snprintf(msg, msglen, "COPY read failed: %s", PQerrorMessage(c));
            rc = SITR_EDB;
            break;
        }
        if (rc == 0) {
            int k = copy_row((const uint8_t *)buf, (size_t)n, &header, f, nf);
            if (k < 0) {
                snprintf(msg, msglen, "malformed COPY data");
                rc = k;
            } else if (k == 1 && (rc = fn(s, f)) < 0) {
                snprintf(msg, msglen, "cannot store a loaded row: %s", sitr_strerror(rc));
            }
        }
        PQfreemem(buf);
    }
    while ((res = PQgetResult(c)) != NULL) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
            snprintf(msg, msglen, "COPY failed: %s", PQerrorMessage(c));
            rc = SITR_EDB;
        }
        PQclear(res);
    }
    return rc;
}

static int exec_ok(PGconn *c, const char *sql, PGresult **keep, char *msg, size_t msglen)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(msg, msglen, "%s", PQerrorMessage(c));
        PQclear(res);
        return SITR_EDB;
    }
    if (keep)
        *keep = res;
    else
        PQclear(res);
    return 0;
}

/* The uploads are read straight from the table with index_uploads' WHERE
 * (removed_at IS NULL), split by heap block so that each half is a TID
 * range scan: [0, split) on the first connection, [split, end) on the
 * second.  The two ranges cover every tuple whatever `split` is (it comes
 * from the table's size, read outside the snapshot), so the split only
 * balances the work and never decides what is loaded. */
#define UPLOADS_COPY                                                                               \
    "COPY (SELECT id, pdq, quality, md5, sha256, frames, duration FROM uploads "                   \
    "WHERE removed_at IS NULL AND %s) "                                                            \
    "TO STDOUT (FORMAT binary)"

static int copy_uploads(PGconn *c, int64_t from_block, int64_t to_block, stage_t *s, char *msg,
                        size_t msglen)
{
    char cond[96], sql[256];
    if (to_block >= 0)
        snprintf(cond, sizeof cond,
                 "ctid >= '(%" PRId64 ",0)'::tid AND ctid < '(%" PRId64 ",0)'::tid", from_block,
                 to_block);
    else
        snprintf(cond, sizeof cond, "ctid >= '(%" PRId64 ",0)'::tid", from_block);
    snprintf(sql, sizeof sql, UPLOADS_COPY, cond);
    return copy_rows(c, sql, 7, upload_row, s, msg, msglen);
}

/* The second connection: imports the first one's snapshot, then copies the
 * upper block range of uploads. */
typedef struct helper {
    const char *conninfo;
    char snapshot[64];
    int64_t from_block;
    stage_t st;
    int rc, connected;
    double cpu;
    char msg[200];
} helper_t;

static void *helper_main(void *arg)
{
    helper_t *h = arg;
    double c0 = thread_cpu_s();
    PGconn *c = PQconnectdb(h->conninfo);
    char sql[128];
    snprintf(sql, sizeof sql, "SET TRANSACTION SNAPSHOT '%s'", h->snapshot);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(h->msg, sizeof h->msg, "cannot connect: %s", PQerrorMessage(c));
        h->rc = SITR_EDB;
    } else if ((h->rc = exec_ok(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, h->msg,
                                sizeof h->msg)) == 0 &&
               (h->rc = exec_ok(c, sql, NULL, h->msg, sizeof h->msg)) == 0) {
        h->connected = 1;
        h->rc = copy_uploads(c, h->from_block, -1, &h->st, h->msg, sizeof h->msg);
        if (h->rc == 0)
            h->rc = exec_ok(c, "COMMIT", NULL, h->msg, sizeof h->msg);
    }
    PQfinish(c);
    h->cpu = thread_cpu_s() - c0;
    return NULL;
}

/* Digest tables are built on their own thread while the PDQ indexes build
 * on the calling one; each staged array is freed once its table is built. */
typedef struct digest_job {
    sitr_replica_t *r;
    stage_t *a, *b;
    int rc;
    double seconds;
} digest_job_t;

static int build_digest(sitr_digest_index_t *d, digests_t *x, digests_t *y)
{
    sitr_digest_part_t parts[2] = {{x->keys, x->ids, x->n}, {y->keys, y->ids, y->n}};
    int rc = sitr_digest_index_bulk_build(d, parts, 2);
    digests_free(x);
    digests_free(y);
    return rc;
}

static void *digest_main(void *arg)
{
    digest_job_t *j = arg;
    double t0 = now_s();
    sitr_replica_t *r = j->r;
    j->rc = build_digest(r->ix.case_md5, &j->a->case_md5, &j->b->case_md5);
    if (j->rc == 0)
        j->rc = build_digest(r->ix.case_sha256, &j->a->case_sha, &j->b->case_sha);
    if (j->rc == 0)
        j->rc = build_digest(r->ix.upload_md5, &j->a->upload_md5, &j->b->upload_md5);
    if (j->rc == 0)
        j->rc = build_digest(r->ix.upload_sha256, &j->a->upload_sha, &j->b->upload_sha);
    j->seconds = now_s() - t0;
    return NULL;
}

/* Appends b's entries to a's array (b is freed). */
static int entries_join(entries_t *a, entries_t *b)
{
    if (b->n && entries_reserve(a, a->n + b->n) < 0)
        return SITR_ENOMEM;
    if (b->n)
        memcpy(a->v + a->n, b->v, b->n * sizeof *b->v);
    a->n += b->n;
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
    return 0;
}

/* Marks every staged id present (before the digest arrays are freed). */
static int mark_present(sitr_replica_t *r, const stage_t *s)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->case_pdq.n; i++)
        if (!sitr_vid_is_frame(s->case_pdq.v[i].id))
            rc = sitr_replica_present_set(&r->image_present,
                                          SITR_REPLICA_IMAGE_OF(s->case_pdq.v[i].id), 1);
    for (size_t i = 0; rc == 0 && i < s->case_md5.n; i++)
        rc = sitr_replica_present_set(&r->image_present, (int64_t)s->case_md5.ids[i], 1);
    for (size_t i = 0; rc == 0 && i < s->case_sha.n; i++)
        rc = sitr_replica_present_set(&r->image_present, (int64_t)s->case_sha.ids[i], 1);
    for (size_t i = 0; rc == 0 && i < s->upload_pdq.n; i++) {
        uint64_t id = s->upload_pdq.v[i].id;
        rc = sitr_replica_present_set(&r->upload_present,
                                      sitr_vid_is_frame(id) ? sitr_vid_video(id) : (int64_t)id, 1);
    }
    for (size_t i = 0; rc == 0 && i < s->upload_md5.n; i++)
        rc = sitr_replica_present_set(&r->upload_present, (int64_t)s->upload_md5.ids[i], 1);
    for (size_t i = 0; rc == 0 && i < s->upload_sha.n; i++)
        rc = sitr_replica_present_set(&r->upload_present, (int64_t)s->upload_sha.ids[i], 1);
    return rc;
}

/* Reserves staging for about `rows` rows of each kind (planner estimate). */
static int stage_reserve(stage_t *s, double images, double uploads)
{
    size_t ni = images > 0 && images < 1e10 ? (size_t)(images * 1.05) + 1024 : 0;
    size_t nu = uploads > 0 && uploads < 1e10 ? (size_t)(uploads * 1.05) + 1024 : 0;
    int rc = 0;
    if (ni)
        rc = entries_reserve(&s->case_pdq, ni * 8);
    if (rc == 0 && ni)
        rc = digests_reserve(&s->case_md5, ni);
    if (rc == 0 && ni)
        rc = digests_reserve(&s->case_sha, ni);
    if (rc == 0 && nu)
        rc = entries_reserve(&s->upload_pdq, nu);
    if (rc == 0 && nu)
        rc = digests_reserve(&s->upload_md5, nu);
    if (rc == 0 && nu)
        rc = digests_reserve(&s->upload_sha, nu);
    return rc;
}

static int load_all(sitr_replica_t *r, PGconn *c)
{
    sitr_replica_load_stats_t *ls = &r->load_stats;
    char *msg = r->load_msg;
    size_t msglen = sizeof r->load_msg;
    double t0 = now_s(), c0 = thread_cpu_s();
    PGresult *res = NULL;
    stage_t a;
    helper_t *h = calloc(1, sizeof *h);
    if (!h)
        return SITR_ENOMEM;
    stage_init(&a);
    stage_init(&h->st);
    a.case_videos = h->st.case_videos = r->ix.case_videos;
    a.upload_videos = h->st.upload_videos = r->ix.upload_videos;
    h->conninfo = r->conninfo;
    int rc = exec_ok(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, msg, msglen);
    /* The first statement fixes the snapshot: head and the rows agree, and
     * the exported snapshot lets the second connection see exactly the same
     * rows. */
    if (rc == 0)
        rc = exec_ok(c,
                     "SELECT sitr_changes_head(), pg_export_snapshot(), "
                     "pg_relation_size('uploads') / current_setting('block_size')::int8, "
                     "(SELECT reltuples FROM pg_class WHERE oid = 'uploads'::regclass), "
                     "(SELECT reltuples FROM pg_class WHERE oid = 'case_images'::regclass)",
                     &res, msg, msglen);
    int64_t blocks = 0;
    double est_images = 0, est_uploads = 0;
    if (rc == 0) {
        if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0) || PQgetisnull(res, 0, 1) ||
            strlen(PQgetvalue(res, 0, 1)) >= sizeof h->snapshot) {
            snprintf(msg, msglen, "sitr_changes_head() returned no row");
            rc = SITR_EDB;
        } else {
            r->load_head = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            snprintf(h->snapshot, sizeof h->snapshot, "%s", PQgetvalue(res, 0, 1));
            blocks = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
            est_uploads = strtod(PQgetvalue(res, 0, 3), NULL);
            est_images = strtod(PQgetvalue(res, 0, 4), NULL);
        }
        PQclear(res);
    }
    /* The platform keys of the same snapshot: a key change after head is
     * seen by the follower, one before it is in these rows. */
    if (rc == 0)
        rc = exec_ok(c, SITR_PKEYS_SQL, &res, msg, msglen);
    if (rc == 0) {
        rc = sitr_pkeys_from_result(res, &r->load_pkeys);
        if (rc < 0)
            snprintf(msg, msglen, "cannot read the platform keys: %s", sitr_strerror(rc));
        PQclear(res);
    }
    /* Small tables are not worth a second connection. */
    int split = rc == 0 && blocks >= 64;
    h->from_block = split ? blocks / 2 : 0;
    if (rc == 0)
        rc = stage_reserve(&a, est_images, split ? est_uploads / 2 : est_uploads);
    if (rc == 0 && split)
        rc = stage_reserve(&h->st, 0, est_uploads / 2);
    if (rc < 0 && !msg[0])
        snprintf(msg, msglen, "out of memory");
    pthread_t ht;
    int started = 0;
    if (rc == 0 && split) {
        if (pthread_create(&ht, NULL, helper_main, h) == 0)
            started = 1;
        else
            split = 0; /* this connection reads everything */
    }
    /* Unreferenced view columns (the variants sub-select) are not computed;
     * the variants come in one hash join instead of a sub-select per row. */
    if (rc == 0)
        rc = copy_rows(c,
                       "COPY (SELECT image_id, pdq, quality, md5, sha256 FROM index_case_images) "
                       "TO STDOUT (FORMAT binary)",
                       5, image_row, &a, msg, msglen);
    if (rc == 0)
        rc = copy_rows(c,
                       "COPY (SELECT v.image_id, v.variant, v.pdq, ci.quality "
                       "FROM case_image_variants v JOIN index_case_images ci "
                       "ON ci.image_id = v.image_id) TO STDOUT (FORMAT binary)",
                       4, variant_row, &a, msg, msglen);
    if (rc == 0)
        rc = copy_rows(
            c,
            "COPY (SELECT video_id, md5, sha256, frames, duration FROM index_case_videos) "
            "TO STDOUT (FORMAT binary)",
            5, video_row, &a, msg, msglen);
    if (rc == 0)
        rc = split ? copy_uploads(c, 0, h->from_block, &a, msg, msglen)
                   : copy_uploads(c, 0, -1, &a, msg, msglen);
    if (started) {
        pthread_join(ht, NULL);
        if (rc == 0 && h->rc < 0 && !h->connected) {
            /* No second connection (e.g. max_connections): read its range
             * here, still inside the exporting snapshot. */
            stage_free(&h->st);
            stage_init(&h->st);
            h->st.case_videos = r->ix.case_videos;
            h->st.upload_videos = r->ix.upload_videos;
            rc = copy_uploads(c, h->from_block, -1, &a, msg, msglen);
        } else if (rc == 0 && h->rc < 0) {
            snprintf(msg, msglen, "second connection: %.150s", h->msg);
            rc = h->rc;
        }
    }
    /* COMMIT only after the helper is done: its imported snapshot must
     * stay valid while it reads (pg_export_snapshot's rule). */
    if (rc == 0)
        rc = exec_ok(c, "COMMIT", NULL, msg, msglen);
    ls->copy_s = now_s() - t0;
    ls->copy_cpu_s = thread_cpu_s() - c0 + h->cpu;
    ls->connections = started && h->connected ? 2 : 1;
    r->load_images = a.images;
    r->load_uploads = a.uploads + h->st.uploads;
    double t1 = now_s();
    if (rc == 0)
        rc = mark_present(r, &a);
    if (rc == 0)
        rc = mark_present(r, &h->st);
    ls->present_s = now_s() - t1;
    digest_job_t dj = {r, &a, &h->st, 0, 0};
    pthread_t dt;
    int dstarted = 0;
    if (rc == 0) {
        if (pthread_create(&dt, NULL, digest_main, &dj) == 0)
            dstarted = 1;
        else
            digest_main(&dj);
    }
    double t2 = now_s();
    if (rc == 0)
        rc = entries_join(&a.case_pdq, &h->st.case_pdq);
    if (rc == 0)
        rc = entries_join(&a.upload_pdq, &h->st.upload_pdq);
    if (rc == 0) {
        rc = sitr_index_bulk_build(r->ix.case_pdq, a.case_pdq.v, a.case_pdq.n, LOAD_THREADS);
        free(a.case_pdq.v);
        a.case_pdq.v = NULL;
    }
    if (rc == 0)
        rc = sitr_index_bulk_build(r->ix.upload_pdq, a.upload_pdq.v, a.upload_pdq.n, LOAD_THREADS);
    ls->pdq_build_s = now_s() - t2;
    if (dstarted)
        pthread_join(dt, NULL);
    ls->digest_build_s = dj.seconds;
    if (rc == 0 && dj.rc < 0)
        rc = dj.rc;
    if (rc < 0 && !msg[0])
        snprintf(msg, msglen, "index build failed: %s", sitr_strerror(rc));
    ls->build_s = now_s() - t1;
    stage_free(&a);
    stage_free(&h->st);
    free(h);
    return rc;
}

void sitr_replica_load_work(uv_work_t *w)
{
    sitr_replica_t *r = w->data;
    double t0 = now_s();
    r->load_msg[0] = 0;
    r->load_images = r->load_uploads = 0;
    memset(&r->load_stats, 0, sizeof r->load_stats);
    sitr_replica_clear_indexes(r);
    sitr_replica_imports_loaded(r);
    sitr_pkeys_free(r->load_pkeys);
    r->load_pkeys = NULL;
    PGconn *c = PQconnectdb(r->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(r->load_msg, sizeof r->load_msg, "cannot connect: %s", PQerrorMessage(c));
        r->load_rc = SITR_EDB;
    } else {
        r->load_rc = load_all(r, c);
    }
    PQfinish(c);
    if (r->load_rc < 0) {
        sitr_replica_clear_indexes(r);
        sitr_pkeys_free(r->load_pkeys);
        r->load_pkeys = NULL;
    }
    /* libpq messages end with a newline. */
    size_t l = strlen(r->load_msg);
    while (l && (r->load_msg[l - 1] == '\n' || r->load_msg[l - 1] == ' '))
        r->load_msg[--l] = 0;
    r->load_seconds = now_s() - t0;
    r->load_stats.total_s = r->load_seconds;
}

/* ---- partner lists: reading one import's case (for replica_import.c) --- */

/* The live images and variants of the import's case, read in one snapshot
 * straight from case_images (a staged import is not in index_case_images
 * yet).  Its rows are moved into out (free with
 * sitr_replica_import_rows_free). */
int sitr_replica_copy_import(PGconn *c, int64_t case_id, int staged_only, import_rows_t *out,
                             char *msg, size_t msglen)
{
    /* A preparation reads only a still staged import: one published or
     * discarded meanwhile reads as empty (nothing to prepare). */
    const char *only = staged_only ? " AND EXISTS (SELECT 1 FROM imports im WHERE im.case_id = "
                                     "i.case_id AND im.published_at IS NULL AND "
                                     "im.discarded_at IS NULL)"
                                   : "";
    char sql[600];
    stage_t s;
    stage_init(&s);
    memset(out, 0, sizeof *out);
    int rc = exec_ok(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, msg, msglen);
    if (rc == 0) {
        snprintf(sql, sizeof sql,
                 "COPY (SELECT i.id, i.pdq, i.quality, i.md5, i.sha256 FROM case_images i "
                 "JOIN cases c ON c.id = i.case_id WHERE i.case_id = %" PRId64
                 " AND i.erased_at IS NULL AND c.withdrawn_at IS NULL%s) TO STDOUT (FORMAT binary)",
                 case_id, only);
        rc = copy_rows(c, sql, 5, image_row, &s, msg, msglen);
    }
    if (rc == 0) {
        snprintf(sql, sizeof sql,
                 "COPY (SELECT v.image_id, v.variant, v.pdq, i.quality "
                 "FROM case_image_variants v JOIN case_images i ON i.id = v.image_id "
                 "JOIN cases c ON c.id = i.case_id WHERE i.case_id = %" PRId64
                 " AND i.erased_at IS NULL AND c.withdrawn_at IS NULL%s) TO STDOUT (FORMAT binary)",
                 case_id, only);
        rc = copy_rows(c, sql, 4, variant_row, &s, msg, msglen);
    }
    if (rc == 0)
        rc = exec_ok(c, "COMMIT", NULL, msg, msglen);
    if (rc < 0) {
        stage_free(&s);
        return rc;
    }
    out->pdq = s.case_pdq.v;
    out->npdq = s.case_pdq.n;
    out->md5_keys = s.case_md5.keys;
    out->md5_ids = s.case_md5.ids;
    out->nmd5 = s.case_md5.n;
    out->sha_keys = s.case_sha.keys;
    out->sha_ids = s.case_sha.ids;
    out->nsha = s.case_sha.n;
    out->images = s.images;
    return 0;
}

void sitr_replica_import_rows_free(import_rows_t *x)
{
    free(x->pdq);
    free(x->md5_keys);
    free(x->md5_ids);
    free(x->sha_keys);
    free(x->sha_ids);
    memset(x, 0, sizeof *x);
}

/* The image ids of one case, in increasing order (binary COPY rows). */
typedef struct idlist {
    int64_t *v;
    size_t n, cap;
} idlist_t;

static int id_row(stage_t *s, const field_t *f)
{
    idlist_t *l = s->ids;
    if (f[0].len != 8)
        return SITR_EPROTO;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4096;
        int64_t *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return SITR_ENOMEM;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = be64(f[0].p);
    return 0;
}

/* Every image id of the case, erased or not, in increasing order (malloc,
 * *ids NULL when none). */
int sitr_replica_copy_image_ids(PGconn *c, int64_t case_id, int64_t **ids, size_t *n, char *msg,
                                size_t msglen)
{
    char sql[200];
    idlist_t l = {0};
    stage_t s;
    stage_init(&s);
    s.ids = &l;
    snprintf(sql, sizeof sql,
             "COPY (SELECT id FROM case_images WHERE case_id = %" PRId64
             " ORDER BY id) TO STDOUT (FORMAT binary)",
             case_id);
    int rc = copy_rows(c, sql, 1, id_row, &s, msg, msglen);
    if (rc < 0) {
        free(l.v);
        l.v = NULL;
        l.n = 0;
    }
    *ids = l.v;
    *n = l.n;
    return rc;
}
