/* The replica's insides (replica.c: state, bitsets, index mutations, life
 * cycle, metrics; replica_load.c: the initial bulk load in a worker thread;
 * replica_follow.c: the change-log follower and the presence heartbeat on
 * the loop thread; replica_import.c: partner lists, prepared in the
 * background and attached as whole segments).  Only these files include
 * it. */
#ifndef SITR_REPLICA_INT_H
#define SITR_REPLICA_INT_H

#include "match/replica.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sitr/err_service.h>
#include <sitr/hex.h>
#include <sitr/pdq.h>

#include "core/log.h"
#include "core/metrics.h"
#include "match/pkeys.h"
#include "match/replica_video.h"
#include "match/vid.h"

#define POLL_MS      1000
#define FETCH_LIMIT  1000
#define LOAD_THREADS 2
/* Ids below this are tracked in the present bitsets (32 MB each at most);
 * larger ids are treated as "maybe present" (removals always scan). */
#define PRESENT_MAX_ID ((int64_t)1 << 28)

typedef struct bitset {
    uint64_t *w;
    size_t nwords;
} bitset_t;

typedef enum change_kind {
    CH_OTHER = 0,
    CH_IMAGE_ADDED,
    CH_IMAGE_REMOVED,
    CH_UPLOAD_ADDED,
    CH_UPLOAD_REMOVED,
    CH_VIDEO_ADDED,
    CH_VIDEO_REMOVED,
    CH_PLATFORM,      /* a platform added, revoked or its key rotated: reload the keys */
    CH_IMPORT_STAGED, /* entity: a staged import's case: prepare it in the background */
    CH_IMPORT_ADDED,  /* entity: a published import's case: attach its prepared segment */
    CH_IMPORT_REMOVED /* entity: an import's case: detach its segment (or one scan) */
} change_kind_t;

/* One change row, decoded on the loop thread for the apply job. */
typedef struct change {
    int64_t seq, entity;
    change_kind_t kind;
    int has_pdq, has_md5, has_sha;
    int quality;
    int nvariants;
    sitr_pdq_t pdq;
    sitr_pdq_t variants[7];
    uint8_t md5[SITR_DIGEST_MD5_BYTES];
    uint8_t sha[SITR_DIGEST_SHA256_BYTES];
    uint8_t *frames; /* packed video frames (malloc, freed with the batch), or NULL */
    size_t frames_len;
    double duration; /* stored duration of a video, < 0 when unknown */
} change_t;

typedef enum job { JOB_NONE = 0, JOB_LOAD, JOB_FETCH, JOB_APPLY } job_t;

/* One import's case as read by sitr_replica_copy_import: its PDQ entries
 * (variants included) and digest pairs (malloc; keys side by side, the
 * layout of sitr_digest_part_t). */
typedef struct import_rows {
    sitr_index_entry_t *pdq;
    size_t npdq;
    uint8_t *md5_keys, *sha_keys;
    uint64_t *md5_ids, *sha_ids;
    size_t nmd5, nsha, images;
} import_rows_t;

typedef enum prep_state { PREP_QUEUED, PREP_RUNNING, PREP_READY, PREP_FAILED } prep_state_t;

/* A staged import being prepared or ready to attach (replica_import.c):
 * a standalone PDQ segment and digest tables, searchable by no one until
 * the publication's 'import_added' attaches them under the case id. */
typedef struct prepared {
    int64_t case_id;
    prep_state_t state;
    int cancelled;           /* withdrawn or discarded while RUNNING: the preparer frees it */
    int acked;               /* the database knows this replica prepared it */
    int ack_failed;          /* an acknowledgement failed (logged once) */
    double retry_at, ack_at; /* monotonic seconds: next try of a failed preparation / ack */
    sitr_index_segment_t *seg;
    sitr_digest_index_t *md5, *sha;
    uint64_t *image_ids; /* to mark present when attached */
    size_t nimage_ids, entries;
    double seconds;
    struct prepared *next;
} prepared_t;

/* An import attached by this replica: which structures hold its segment
 * (replica_import.c IN_* bits), so that a withdrawal scans only what a
 * merge may have folded elsewhere. */
typedef struct attach_rec {
    int64_t case_id;
    unsigned mask;
} attach_rec_t;

struct sitr_replica {
    uv_loop_t *loop;
    sitr_db_t *db;
    char *conninfo;
    void (*on_ready)(void *arg);
    void *on_ready_arg;
    sitr_replica_indexes_t ix;
    bitset_t image_present, upload_present;

    _Atomic int64_t applied;
    int ready, closing, timer_closed, listening;
    job_t job;
    int again; /* a wake-up arrived while a job was in flight */
    int holds; /* sitr_replica_hold without release yet */
    uv_work_t work;
    uv_timer_t poll;

    /* load job */
    int load_rc;
    char load_msg[200];
    int64_t load_head;
    size_t load_images, load_uploads;
    double load_seconds;
    sitr_replica_load_stats_t load_stats;

    /* platform keys (pkeys.h): the set in use (loop thread), the one the
     * load job built; a reload is due (stale) or in flight through the pool */
    sitr_pkeys_t *pkeys, *load_pkeys;
    int pkeys_stale, pkeys_inflight, warned_pkeys;
    unsigned long long pkeys_reloads, pkeys_reload_errors;

    /* apply job: the blocking connection of the import changes (worker
     * thread, one job at a time; NULL until the first one) */
    PGconn *import_conn;

    /* partner lists (replica_import.c): prepared imports (under prep_mu,
     * shared by the apply job and the preparer thread, which has its own
     * connection), this process's name in the replicas table */
    pthread_mutex_t prep_mu;
    pthread_cond_t prep_cv;
    prepared_t *prepared;
    pthread_t prep_thread;
    int prep_inited, prep_started, prep_stop;
    PGconn *prep_conn;
    char instance[128];
    unsigned long long imports_prepared, imports_attached, imports_inline, imports_prep_failed;
    unsigned long long imports_detached, imports_scanned;
    double last_prepare_s, last_attach_s;
    attach_rec_t *attached; /* apply job only */
    size_t nattached;
    int presence_tick, presence_inflight, warned_presence, staged_inflight, staged_checked;

    /* apply job */
    change_t *batch;
    size_t nbatch;
    int64_t batch_done; /* highest seq of the batch applied (by the job) */
    int batch_rc;

    void (*applied_cb)(int64_t seq, void *arg);
    void *applied_arg;
    void (*done)(void *arg);
    void *done_arg;

    /* statistics (loop thread) */
    unsigned long long changes_applied, fetch_errors, loads_failed;
    int warned_fetch;
};

/* Shared between the three files (definitions in the file named). */
int sitr_replica_apply_change(sitr_replica_t *r, const change_t *c); /* replica.c */
void sitr_replica_clear_indexes(sitr_replica_t *r);                  /* replica.c */
void sitr_replica_free_batch(change_t *b, size_t n);                 /* replica_follow.c */
void sitr_replica_load_work(uv_work_t *w);                           /* replica_load.c */
void sitr_replica_maybe_finish_close(sitr_replica_t *r);             /* replica.c */
void sitr_replica_on_poll(uv_timer_t *t);                            /* replica_follow.c */
int sitr_replica_present_set(bitset_t *b, int64_t id, int on);       /* replica.c */
void sitr_replica_start_load(sitr_replica_t *r);                     /* replica_follow.c */
void sitr_replica_reload_pkeys(sitr_replica_t *r);                   /* replica_follow.c */
int sitr_replica_copy_import(PGconn *c, int64_t case_id, int staged_only, import_rows_t *out,
                             char *msg, size_t msglen); /* replica_load.c */
void sitr_replica_import_rows_free(import_rows_t *x);   /* replica_load.c */
int sitr_replica_copy_image_ids(PGconn *c, int64_t case_id, int64_t **ids, size_t *n, char *msg,
                                size_t msglen);                     /* replica_load.c */
int sitr_replica_imports_init(sitr_replica_t *r);                   /* replica_import.c */
void sitr_replica_imports_free(sitr_replica_t *r);                  /* replica_import.c */
int sitr_replica_import_staged(sitr_replica_t *r, int64_t case_id); /* replica_import.c */
int sitr_replica_import_add(sitr_replica_t *r, int64_t case_id);    /* replica_import.c */
int sitr_replica_import_drop(sitr_replica_t *r, int64_t case_id);   /* replica_import.c */
void sitr_replica_imports_loaded(sitr_replica_t *r);                /* replica_import.c */
void sitr_replica_imports_tick(sitr_replica_t *r);                  /* replica_import.c */
void sitr_replica_imports_metrics(FILE *out, sitr_replica_t *r);    /* replica_import.c */

#endif
