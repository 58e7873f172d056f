/* The match oracle (issue 14, docs/SECURITY.md "The match oracle"): a
 * platform holding a near copy of a victim's picture runs the greedy
 * bit-flip attack against a real sitrd and PostgreSQL (the `pg` fixture),
 * and must neither recover the victim's exact PDQ within 10,000 queries nor
 * go unnoticed.
 *
 * The victim's case holds the PDQ of a real photo (the bridge of
 * tests/data/pdq, expected.csv).  Each attack runs on its own platform key
 * against that case image, with the rate limits off so that it really gets
 * its 10,000 queries:
 *   1. /v1/match, batched (256 items a request), reading the distances,
 *      from a copy at distance 25;
 *   2. /m/lookup (HMA), one item a request, reading HMA's distance string,
 *      from a copy at distance 25;
 *   3. /v1/match, one item a request, matched/not matched only, from a copy
 *      at distance 30;
 *   4. /v1/match, batched, matched/not matched only, from distance 30.
 * The attacker first flips each bit once and keeps the flips that lower the
 * distance (what recovers the hash in one batch when distances are exact);
 * then it walks to the threshold's edge (a copy that matches, one more bit
 * away from it not) and flips each bit there: a flip that still matches
 * names a wrong bit.  It starts again until it has spent its 10,000
 * queries, even once its near copy no longer matches (it has been
 * noticed).
 *
 * The same attacker against a second sitrd whose budget is raised to 1,000
 * must recover the hash (both the distance and the yes/no variant): the
 * bands alone do not stop it, so the budget is what the main server's
 * results prove, and the attacker is competent.
 *
 * Checked: the exact hash is never recovered; each attack raises
 * sitr_oracle_alerts_total by one; the attacker got at most the budget's
 * distinct matching answers; its near copy no longer matches afterwards
 * while the exact file (sha256) still does; another platform's real
 * re-uploads (the seven distinct PDQs of the bridge, its edits and its
 * other formats) all match, with banded distances, and raise no alert.  No timing
 * assertions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "db_support.h"
#include "e2e_api.h"
#include "e2e_img.h"
#include "e2e_util.h"
#include "e2e_world.h"

#define TEST_DIGEST_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define DEADLINE_MS     20000
#define BUDGET          16
#define MAX_QUERIES     10000
#define THRESHOLD       31
#define BATCH           256

/* tests/data/pdq/expected.csv: bridge-mods/aaa-orig.jpg, then the distinct
 * PDQs of its edits and other formats (shrink-a-lot, square-128x128,
 * square-256x256, square-512x512, misc-images/modes/1.png, PA.webp). */
static const char VICTIM_PDQ[] = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22";
static const char *const REUPLOADS[] = {
    "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22",
    "d0f8f1ccc0f4a84d0a370a3a228f67f0b36e2ed5b6623e1d33e6339c4e9c9b22",
    "d8f8f1eec0f4a84f0e37022a078f63f0b36e2ed596621e1d33e6239c4e9c9b22",
    "d8f8f0cec4f4a84f0637022a078f67f0b36e2ee5b6621e1d33e6239c4e9c9b22",
    "d8f8f0cec0f4a84f0637022a278f67f0b36e2ed596621e1d33e6339c4e9c9b22",
    "d8f871cec0f4a84f0a370822038f67f0b36e2ed596633e1d33e6b39c4e9c9b22",
    "d8f8f0cee0f4a84f0637022a038f67f0b36e2ed596621e1d33e6b39c4e9c9b22",
};
#define NREUPLOADS (sizeof REUPLOADS / sizeof *REUPLOADS)

typedef uint8_t hash_t[32];

typedef struct world {
    char *db_url, *ctl_url;
    sitr_e2e_server_t srv, ctl; /* ctl: budget 1000 (the control) */
    sitr_e2e_server_t srv2;     /* a second replica on srv's database */
    char key_honest[80], key_atk[4][80], key_ctl[2][80], key_spread[80];
    char case_path[128], case_auth[128]; /* the victim's case on srv */
    sitr_e2e_img_t img;                  /* md5/sha of the victim's file; pdq = VICTIM_PDQ */
    hash_t victim;
} world_t;

static world_t W;
static unsigned rng_state = 1414;

/* ---- hashes ------------------------------------------------------------------------ */

static void from_hex(const char *hex, hash_t out)
{
    for (int i = 0; i < 32; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static void to_hex(const hash_t h, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void flip(hash_t h, int bit)
{
    h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

static int rnd(int n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (int)((rng_state >> 8) % (unsigned)n);
}

/* victim with d distinct random bits flipped. */
static void near_copy(int d, hash_t out)
{
    memcpy(out, W.victim, sizeof(hash_t));
    int done = 0;
    while (done < d) {
        int b = rnd(256);
        hash_t t;
        memcpy(t, out, sizeof t);
        flip(t, b);
        int dist = 0;
        for (int i = 0; i < 32; i++)
            dist += __builtin_popcount((unsigned)(t[i] ^ W.victim[i]));
        if (dist > done) {
            memcpy(out, t, sizeof t);
            done++;
        }
    }
}

/* ---- the attacker --------------------------------------------------------------------- */

typedef enum route { V1, HMA } route_t;

typedef struct attacker {
    const sitr_e2e_server_t *s;
    const char *key;
    route_t route;
    int batched, distances;
    long queries;
    int noticed; /* saw its near copy stop matching */
    /* distinct queries answered "matched" (besides the start) */
    hash_t *seen;
    size_t nseen;
    hash_t start;
} attacker_t;

static void note_match(attacker_t *a, const hash_t q)
{
    if (memcmp(q, a->start, sizeof(hash_t)) == 0)
        return;
    for (size_t i = 0; i < a->nseen; i++)
        if (memcmp(a->seen[i], q, sizeof(hash_t)) == 0)
            return;
    memcpy(a->seen[a->nseen++], q, sizeof(hash_t));
}

/* One /v1/match request for q[0..n): out[i] = -1 (not matched) or the
 * distance answered. */
static void ask_v1(attacker_t *a, const hash_t *q, size_t n, int *out)
{
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        to_hex(q[i], hex);
        json_array_append_new(items, json_pack("{s:s,s:i}", "pdq", hex, "quality", 100));
    }
    json_t *body = json_pack("{s:o}", "items", items);
    char *text = json_dumps(body, 0);
    json_decref(body);
    json_t *ans = sitr_e2e_call_json(a->s, "POST", "/v1/match", a->key, text, 200);
    free(text);
    json_t *its = json_object_get(ans, "items");
    assert_int_equal(json_array_size(its), n);
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(its, i);
        json_t *ms = json_object_get(it, "matches");
        if (!json_is_true(json_object_get(it, "matched"))) {
            assert_int_equal(json_array_size(ms), 0);
            out[i] = -1;
            continue;
        }
        assert_int_equal(json_array_size(ms), 1);
        json_t *m = json_array_get(ms, 0);
        assert_string_equal(json_string_value(json_object_get(m, "signal")), "pdq");
        out[i] = (int)json_integer_value(json_object_get(m, "distance"));
    }
    json_decref(ans);
}

/* One GET /m/lookup for q. */
static int ask_hma(attacker_t *a, const hash_t q)
{
    char hex[65], path[200];
    to_hex(q, hex);
    snprintf(path, sizeof path, "/m/lookup?signal=%s&signal_type=pdq", hex);
    json_t *ans = sitr_e2e_call_json(a->s, "GET", path, a->key, NULL, 200);
    json_t *bank = json_object_get(ans, "SITR");
    int d = -1;
    if (bank) {
        assert_int_equal(json_array_size(bank), 1);
        const char *s = json_string_value(json_object_get(json_array_get(bank, 0), "distance"));
        assert_non_null(s);
        d = atoi(s);
    } else {
        assert_int_equal(json_object_size(ans), 0);
    }
    json_decref(ans);
    return d;
}

/* Asks for q[0..n) as the attacker's mode says (batched or one a request),
 * within its query budget; returns how many were asked. */
static size_t ask(attacker_t *a, const hash_t *q, size_t n, int *out)
{
    if ((long)n > MAX_QUERIES - a->queries)
        n = (size_t)(MAX_QUERIES - a->queries);
    for (size_t i = 0; i < n;) {
        size_t k = a->batched && a->route == V1 ? (n - i < BATCH ? n - i : BATCH) : 1;
        if (a->route == HMA)
            out[i] = ask_hma(a, q[i]);
        else
            ask_v1(a, q + i, k, out + i);
        for (size_t x = i; x < i + k; x++) {
            if (out[x] >= 0)
                note_match(a, q[x]);
            if (!a->distances && out[x] >= 0)
                out[x] = 0; /* the yes/no attacker reads nothing more */
        }
        i += k;
    }
    a->queries += (long)n;
    return n;
}

static int ask1(attacker_t *a, const hash_t q)
{
    int d = -1;
    ask(a, (const hash_t *)q, 1, &d);
    return d;
}

/* 1 when the attacker's final guess is the victim's exact hash. */
static int attack(attacker_t *a, const hash_t start)
{
    hash_t *q = malloc(256 * sizeof *q);
    int *ans = malloc(256 * sizeof *ans);
    assert_non_null(q);
    assert_non_null(ans);
    memcpy(a->start, start, sizeof(hash_t));
    int recovered = 0;
    int d0 = ask1(a, start);
    assert_true(d0 >= 0); /* the near copy matches */
    if (a->distances) {
        /* Each bit once: a flip that lowers the distance undoes a wrong bit. */
        for (int i = 0; i < 256; i++) {
            memcpy(q[i], start, sizeof(hash_t));
            flip(q[i], i);
        }
        size_t n = ask(a, q, 256, ans);
        hash_t c;
        memcpy(c, start, sizeof c);
        int lower = 0;
        for (size_t i = 0; i < n; i++)
            if (ans[i] >= 0 && ans[i] < d0) {
                flip(c, (int)i);
                lower++;
            }
        if (lower == d0 && memcmp(c, W.victim, sizeof c) == 0)
            recovered = 1;
    }
    hash_t b;
    memcpy(b, start, sizeof b);
    while (!recovered && a->queries < MAX_QUERIES) {
        /* Noticed (the near copy no longer matches) or not, it goes on
         * until its queries are spent. */
        if (ask1(a, start) < 0)
            a->noticed = 1;
        /* Walk to the threshold's edge: flip random bits while the copy
         * matches; the first flip that does not match shows b is at the
         * edge and that bit is right. */
        int edge = -1;
        for (int tries = 0; tries < 256 && a->queries < MAX_QUERIES; tries++) {
            int bit = rnd(256);
            flip(b, bit);
            if (ask1(a, b) < 0) {
                flip(b, bit);
                edge = bit;
                break;
            }
        }
        if (edge < 0)
            break;
        /* At the edge, a single flip that still matches undoes a wrong bit. */
        int m = 0;
        for (int i = 0; i < 256; i++)
            if (i != edge) {
                memcpy(q[m], b, sizeof(hash_t));
                flip(q[m++], i);
            }
        size_t n = ask(a, q, (size_t)m, ans);
        hash_t c;
        memcpy(c, b, sizeof c);
        for (size_t i = 0, bit = 0; i < n; i++, bit++) {
            if ((int)bit == edge)
                bit++;
            if (ans[i] >= 0)
                flip(c, (int)bit);
        }
        if (n == (size_t)m && memcmp(c, W.victim, sizeof c) == 0)
            recovered = 1;
        memcpy(b, start, sizeof b);
    }
    free(q);
    free(ans);
    return recovered;
}

static attacker_t attacker(const sitr_e2e_server_t *s, const char *key, route_t route, int batched,
                           int distances)
{
    attacker_t a = {.s = s, .key = key, .route = route, .batched = batched, .distances = distances};
    a.seen = calloc(MAX_QUERIES + 1, sizeof *a.seen);
    assert_non_null(a.seen);
    return a;
}

/* ---- fixture ------------------------------------------------------------------------ */

static int start(sitr_e2e_server_t *s, const char *db_url, const char *budget)
{
    static char url_var[2][1200];
    static int k;
    char *v = url_var[k++ % 2];
    snprintf(v, 1200, "SITR_DATABASE_URL=%s", db_url);
    const char *env[] = {v,
                         "SITR_MATCH_THRESHOLD=31",
                         "SITR_CASE_RATE=0",
                         "SITR_PLATFORM_RATE=0",
                         "SITR_CLIENT_RATE=0",
                         budget,
                         "SITR_DIGEST_KEY=" TEST_DIGEST_KEY,
                         NULL};
    return sitr_e2e_start(s, env);
}

/* The victim's case on s, waited for until s matches it. */
static void make_case(const sitr_e2e_server_t *s, const char *key)
{
    char body[400];
    snprintf(body, sizeof body,
             "{\"images\":[{\"pdq\":\"%s\",\"quality\":100,\"md5\":\"%s\",\"sha256\":\"%s\"}]}",
             VICTIM_PDQ, W.img.md5, W.img.sha);
    json_t *made = sitr_e2e_call_json(s, "POST", "/v1/cases", NULL, body, 201);
    if (s == &W.srv) {
        snprintf(W.case_path, sizeof W.case_path, "/v1/cases/%s",
                 json_string_value(json_object_get(made, "case")));
        snprintf(W.case_auth, sizeof W.case_auth, "Case %s",
                 json_string_value(json_object_get(made, "secret")));
    }
    json_decref(made);
    char q[200];
    snprintf(q, sizeof q, "{\"items\":[{\"sha256\":\"%s\"}]}", W.img.sha);
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    for (;;) {
        json_t *j = sitr_e2e_call_json(s, "POST", "/v1/match", key, q, 200);
        int hit = json_is_true(
            json_object_get(json_array_get(json_object_get(j, "items"), 0), "matched"));
        json_decref(j);
        if (hit)
            return;
        if (sitr_e2e_now_ms() > end)
            fail_msg("the case never matched");
        sitr_e2e_sleep_ms(50);
    }
}

static int setup(void **state)
{
    (void)state;
    setenv("SITR_DIGEST_KEY", TEST_DIGEST_KEY, 1);
    W.db_url = sitr_e2e_migrated_db("oracle_e2e");
    W.ctl_url = sitr_e2e_migrated_db("oracle_e2e_ctl");
    if (!W.db_url || !W.ctl_url)
        return -1;
    const char *names[4] = {"platform add atk-batch", "platform add atk-hma",
                            "platform add atk-single", "platform add atk-yesno"};
    if (sitr_e2e_admin_key(W.db_url, "platform add honest", W.key_honest, sizeof W.key_honest, NULL,
                           0) < 0 ||
        sitr_e2e_admin_key(W.db_url, "platform add spread", W.key_spread, sizeof W.key_spread, NULL,
                           0) < 0)
        return -1;
    for (int i = 0; i < 4; i++)
        if (sitr_e2e_admin_key(W.db_url, names[i], W.key_atk[i], sizeof W.key_atk[i], NULL, 0) < 0)
            return -1;
    if (sitr_e2e_admin_key(W.ctl_url, "platform add ctl-dist", W.key_ctl[0], sizeof W.key_ctl[0],
                           NULL, 0) < 0 ||
        sitr_e2e_admin_key(W.ctl_url, "platform add ctl-yesno", W.key_ctl[1], sizeof W.key_ctl[1],
                           NULL, 0) < 0)
        return -1;
    W.img = sitr_e2e_new_img(&rng_state);
    memcpy(W.img.pdq, VICTIM_PDQ, sizeof W.img.pdq);
    from_hex(VICTIM_PDQ, W.victim);
    if (start(&W.srv, W.db_url, "SITR_ORACLE_BUDGET=16") < 0 ||
        sitr_e2e_wait_ready(&W.srv, DEADLINE_MS) < 0)
        return -1;
    if (start(&W.srv2, W.db_url, "SITR_ORACLE_BUDGET=16") < 0 ||
        sitr_e2e_wait_ready(&W.srv2, DEADLINE_MS) < 0)
        return -1;
    if (start(&W.ctl, W.ctl_url, "SITR_ORACLE_BUDGET=1000") < 0 ||
        sitr_e2e_wait_ready(&W.ctl, DEADLINE_MS) < 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *never[] = {W.key_honest, W.key_atk[0], W.key_atk[1], W.key_atk[2], W.key_atk[3],
                           W.key_spread, VICTIM_PDQ,   W.img.md5,    W.img.sha,    NULL};
    int rc = sitr_e2e_stop_clean(&W.srv, never);
    if (sitr_e2e_stop_clean(&W.ctl, never) < 0)
        rc = -1;
    if (sitr_e2e_stop_clean(&W.srv2, never) < 0)
        rc = -1;
    free(W.db_url);
    free(W.ctl_url);
    return rc;
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_case_created(void **state)
{
    (void)state;
    make_case(&W.srv, W.key_honest);
    make_case(&W.ctl, W.key_ctl[0]);
}

/* Distances are bands: 0 for the exact hash, 15 from 1 to 15 bits, the
 * threshold above; the exact file keeps its 0. */
static void test_bands(void **state)
{
    (void)state;
    static const struct {
        int flips, shown;
    } cases[] = {{0, 0}, {1, 15}, {5, 15}, {15, 15}, {16, 31}, {25, 31}, {31, 31}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char pdq[65], body[300];
        sitr_e2e_flip_bits(VICTIM_PDQ, cases[i].flips, pdq);
        snprintf(body, sizeof body, "{\"items\":[{\"pdq\":\"%s\",\"quality\":100}]}", pdq);
        json_t *j = sitr_e2e_call_json(&W.ctl, "POST", "/v1/match", W.key_ctl[1], body, 200);
        json_t *m = json_array_get(
            json_object_get(json_array_get(json_object_get(j, "items"), 0), "matches"), 0);
        assert_non_null(m);
        assert_int_equal(json_integer_value(json_object_get(m, "distance")), cases[i].shown);
        json_decref(j);
    }
    char body[300];
    snprintf(body, sizeof body, "{\"items\":[{\"sha256\":\"%s\",\"pdq\":\"%s\",\"quality\":100}]}",
             W.img.sha, VICTIM_PDQ);
    json_t *j = sitr_e2e_call_json(&W.ctl, "POST", "/v1/match", W.key_ctl[1], body, 200);
    json_t *m = json_array_get(
        json_object_get(json_array_get(json_object_get(j, "items"), 0), "matches"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "signal")), "sha256");
    assert_int_equal(json_integer_value(json_object_get(m, "distance")), 0);
    json_decref(j);
}

/* The control: with the budget raised, the same attacker recovers the hash
 * (from distance 25 reading distances, from 30 reading yes/no). */
static void test_control_attack_succeeds(void **state)
{
    (void)state;
    hash_t s25, s30;
    near_copy(25, s25);
    near_copy(30, s30);
    attacker_t a = attacker(&W.ctl, W.key_ctl[0], V1, 1, 1);
    assert_true(attack(&a, s25));
    attacker_t b = attacker(&W.ctl, W.key_ctl[1], V1, 1, 0);
    assert_true(attack(&b, s30));
    printf("control: recovered with %ld and %ld queries\n", a.queries, b.queries);
    free(a.seen);
    free(b.seen);
}

/* Runs one attack on the main server; checks the outcome. */
static void run_attack(int which, route_t route, int batched, int distances, int from)
{
    hash_t s;
    near_copy(from, s);
    long long alerts = sitr_e2e_metric(&W.srv, "sitr_oracle_alerts_total");
    assert_true(alerts >= 0);
    attacker_t a = attacker(&W.srv, W.key_atk[which], route, batched, distances);
    int recovered = attack(&a, s);
    printf("attack %d: %ld queries, %zu distinct matching answers, noticed %d, recovered %d\n",
           which + 1, a.queries, a.nseen, a.noticed, recovered);
    assert_false(recovered);
    assert_int_equal(a.queries, MAX_QUERIES);
    assert_true(a.noticed);
    /* At most the budget's distinct matches were answered (the start
     * itself is one of them). */
    assert_true(a.nseen + 1 <= BUDGET);
    /* Noticed: one alert. */
    assert_int_equal(sitr_e2e_metric(&W.srv, "sitr_oracle_alerts_total"), alerts + 1);
    /* The near copy no longer matches for that platform; the exact file
     * still does. */
    assert_int_equal(ask1(&a, s), -1);
    char body[300];
    snprintf(body, sizeof body, "{\"items\":[{\"sha256\":\"%s\"}]}", W.img.sha);
    json_t *j = sitr_e2e_call_json(&W.srv, "POST", "/v1/match", W.key_atk[which], body, 200);
    assert_true(
        json_is_true(json_object_get(json_array_get(json_object_get(j, "items"), 0), "matched")));
    json_decref(j);
    free(a.seen);
}

static void test_attack_batched_distances(void **state)
{
    (void)state;
    run_attack(0, V1, 1, 1, 25);
}

static void test_attack_hma_single_distances(void **state)
{
    (void)state;
    run_attack(1, HMA, 0, 1, 25);
}

static void test_attack_single_yesno(void **state)
{
    (void)state;
    run_attack(2, V1, 0, 0, 30);
}

static void test_attack_batched_yesno(void **state)
{
    (void)state;
    run_attack(3, V1, 1, 0, 30);
}

/* Real re-uploads: the bridge's edits and formats, each sent twice, by
 * /v1/match in one batch and by /m/lookup, all match with banded
 * distances and raise no alert. */
static void test_reuploads_keep_matching(void **state)
{
    (void)state;
    long long alerts = sitr_e2e_metric(&W.srv, "sitr_oracle_alerts_total");
    long long withheld = sitr_e2e_metric(&W.srv, "sitr_oracle_withheld_total");
    attacker_t a = attacker(&W.srv, W.key_honest, V1, 1, 1);
    hash_t q[2 * NREUPLOADS];
    int ans[2 * NREUPLOADS];
    for (size_t i = 0; i < 2 * NREUPLOADS; i++)
        from_hex(REUPLOADS[i % NREUPLOADS], q[i]);
    ask(&a, q, 2 * NREUPLOADS, ans);
    for (size_t i = 0; i < 2 * NREUPLOADS; i++)
        assert_int_equal(ans[i], i % NREUPLOADS == 0 ? 0 : 15);
    a.route = HMA;
    ask(&a, q, 2 * NREUPLOADS, ans);
    for (size_t i = 0; i < 2 * NREUPLOADS; i++)
        assert_int_equal(ans[i], i % NREUPLOADS == 0 ? 0 : 15);
    assert_int_equal(sitr_e2e_metric(&W.srv, "sitr_oracle_alerts_total"), alerts);
    assert_int_equal(sitr_e2e_metric(&W.srv, "sitr_oracle_withheld_total"), withheld);
    free(a.seen);
}

/* Polls sql on the main database until it gives want. */
static void wait_scalar(const char *sql, long long want)
{
    long long end = sitr_e2e_now_ms() + DEADLINE_MS, v = -1;
    while ((v = pgt_scalar(W.db_url, sql)) != want) {
        if (sitr_e2e_now_ms() > end)
            fail_msg("%s: %lld, wanted %lld", sql, v, want);
        sitr_e2e_sleep_ms(50);
    }
}

/* Polls until platform key's query q matches on s (want 1) or not (0). */
static void wait_match(const sitr_e2e_server_t *s, const char *key, const hash_t q, int want)
{
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    for (;;) {
        attacker_t a = attacker(s, key, V1, 0, 1);
        int got = ask1(&a, q) >= 0;
        free(a.seen);
        if (got == want)
            return;
        if (sitr_e2e_now_ms() > end)
            fail_msg("the query never became %s", want ? "matched" : "withheld");
        sitr_e2e_sleep_ms(50);
    }
}

/* sitr-admin with args on the main database; its stdout and stderr (caller
 * frees); fails the test unless it exits with status 0. */
static char *admin_out(const char *args)
{
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "'%s' --database-url '%s' %s 2>&1", pgt_admin(), W.db_url, args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0, k;
    char *out = malloc(cap);
    assert_non_null(out);
    while ((k = fread(out + n, 1, cap - 1 - n, f)) > 0)
        n += k;
    out[n] = '\0';
    int st = pclose(f);
    if (st != 0)
        fail_msg("sitr-admin %s: status %d: %s", args, st, out);
    return out;
}

/* 1 when sitr-admin with args exits with a status other than 0. */
static int admin_fails(const char *args)
{
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "'%s' --database-url '%s' %s >/dev/null 2>&1", pgt_admin(), W.db_url,
             args);
    return system(cmd) != 0;
}

/* The alerts in the database (every replica syncs within about a second)
 * and in sitr-admin alerts; no hash or case in either. */
static void test_alerts_recorded(void **state)
{
    (void)state;
    static const char *const names[] = {"atk-batch", "atk-hma", "atk-single", "atk-yesno"};
    wait_scalar("SELECT count(*) FROM oracle_alerts WHERE cleared_at IS NULL", 4);
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM oracle_alerts a JOIN platforms p "
                                          "ON p.id = a.platform_id WHERE p.name LIKE 'atk-%' "
                                          "AND NOT a.video AND a.target_id IS NOT NULL "
                                          "AND a.queries > 16"),
                     4);
    /* The honest platform's seven re-uploads: seven digests, no alert. */
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM oracle_probes o JOIN platforms p "
                                          "ON p.id = o.platform_id WHERE p.name = 'honest'"),
                     (long long)NREUPLOADS);
    char *table = admin_out("alerts");
    for (int i = 0; i < 4; i++)
        assert_non_null(strstr(table, names[i]));
    assert_null(strstr(table, "honest"));
    sitr_e2e_assert_no_hash(table, &W.img, "sitr-admin alerts");
    free(table);
    char *js = admin_out("alerts --format json");
    json_t *doc = sitr_e2e_json(js);
    json_t *list = json_object_get(doc, "alerts");
    assert_int_equal(json_array_size(list), 4);
    json_t *first = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(first, "item")), "image");
    assert_true(json_is_null(json_object_get(first, "cleared_at")));
    json_decref(doc);
    free(js);
    char *csv = admin_out("alerts --format csv");
    assert_memory_equal(csv, "id,platform,item,queries,created_at,cleared_at\n", 47);
    free(csv);
    /* The second replica withholds them too. */
    hash_t s;
    near_copy(20, s);
    wait_match(&W.srv2, W.key_atk[0], s, 0);
}

/* sitr-admin alerts clear: the pair is answered again on every replica,
 * with a fresh budget. */
static void test_alert_cleared(void **state)
{
    (void)state;
    long long id = pgt_scalar(W.db_url, "SELECT a.id FROM oracle_alerts a JOIN platforms p ON "
                                        "p.id = a.platform_id WHERE p.name = 'atk-batch'");
    char args[64];
    snprintf(args, sizeof args, "alerts clear %lld", id);
    free(admin_out(args));
    hash_t s;
    near_copy(20, s);
    wait_match(&W.srv, W.key_atk[0], s, 1);
    wait_match(&W.srv2, W.key_atk[0], s, 1);
    assert_int_equal(
        pgt_scalar(W.db_url, "SELECT count(*) FROM oracle_alerts WHERE cleared_at IS NULL"), 3);
    char *all = admin_out("alerts --all --format json");
    json_t *doc = sitr_e2e_json(all);
    assert_int_equal(json_array_size(json_object_get(doc, "alerts")), 4);
    json_decref(doc);
    free(all);
    /* Clearing it again, or a malformed id, fails. */
    assert_true(admin_fails(args));
    assert_true(admin_fails("alerts clear 12x"));
}

/* Spread over two replicas: 10 distinct matching queries on each (20 in
 * all, neither replica past 16 alone) are over the budget in the database,
 * and both replicas withhold the pair within about a second. */
static void test_spread_over_replicas(void **state)
{
    (void)state;
    int answered = 0;
    for (int i = 0; i < 20; i++) {
        hash_t q;
        near_copy(10, q);
        attacker_t a = attacker(i % 2 ? &W.srv2 : &W.srv, W.key_spread, V1, 0, 1);
        answered += ask1(&a, q) >= 0;
        free(a.seen);
    }
    /* The database passes 16 only once the 17th is answered and synced. */
    assert_true(answered >= 17);
    wait_scalar("SELECT count(*) FROM oracle_alerts a JOIN platforms p ON p.id = a.platform_id "
                "WHERE p.name = 'spread' AND a.cleared_at IS NULL AND a.queries > 16",
                1);
    hash_t s;
    near_copy(5, s);
    wait_match(&W.srv, W.key_spread, s, 0);
    wait_match(&W.srv2, W.key_spread, s, 0);
    /* One log line for that alert, from the replica whose sync opened it. */
    int lines = sitr_e2e_log_contains(&W.srv, "(all replicas)") +
                sitr_e2e_log_contains(&W.srv2, "(all replicas)");
    assert_int_equal(lines, 1);
}

/* Withdrawal: the case item's digests go, its alerts lose the link. */
static void test_withdrawal_forgets(void **state)
{
    (void)state;
    assert_true(pgt_scalar(W.db_url, "SELECT count(*) FROM oracle_probes") > 0);
    sitr_e2e_resp_t r;
    sitr_e2e_call(&W.srv, "DELETE", W.case_path, W.case_auth, NULL, NULL, &r);
    assert_true(r.status == 200 || r.status == 204);
    sitr_e2e_resp_free(&r);
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM oracle_probes"), 0);
    assert_int_equal(
        pgt_scalar(W.db_url, "SELECT count(*) FROM oracle_alerts WHERE target_id IS NOT NULL"), 0);
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM oracle_alerts"), 5);
    /* No planner statistics on the digests. */
    assert_int_equal(pgt_scalar(W.db_url, "SELECT attstattarget FROM pg_attribute WHERE attrelid "
                                          "= 'oracle_probes'::regclass AND attname = 'digest'"),
                     0);
    char *table = admin_out("alerts");
    assert_non_null(strstr(table, "erased"));
    free(table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_created),
        cmocka_unit_test(test_bands),
        cmocka_unit_test(test_control_attack_succeeds),
        cmocka_unit_test(test_reuploads_keep_matching),
        cmocka_unit_test(test_attack_batched_distances),
        cmocka_unit_test(test_attack_hma_single_distances),
        cmocka_unit_test(test_attack_single_yesno),
        cmocka_unit_test(test_attack_batched_yesno),
        cmocka_unit_test(test_reuploads_keep_matching),
        cmocka_unit_test(test_alerts_recorded),
        cmocka_unit_test(test_alert_cleared),
        cmocka_unit_test(test_spread_over_replicas),
        cmocka_unit_test(test_withdrawal_forgets),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
