/* End-to-end tests of the victims' case API against a real sitrd and a
 * fresh, migrated PostgreSQL database (the `pg` fixture): creation, status,
 * adding images, withdrawal proven by SQL, every error path (422 with JSON
 * paths, 413, 400/401/404, identical answers for a wrong secret, an
 * unknown case and a withdrawn case), the creation rate limit and the
 * failed-authentication limit (429 with Retry-After), over keep-alive and
 * pipelined connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include <sitr/token.h>

#include "e2e_api.h"
#include "e2e_util.h"
#include "e2e_world.h"
#include "db_support.h"

#define MAX_PER_REQUEST 5
#define MAX_PER_CASE    7

typedef struct world {
    char *db_url;
    sitr_e2e_server_t srv;
    sitr_e2e_client_t conn; /* one keep-alive connection for most requests */
} world_t;

static world_t W;

/* ---- helpers ---------------------------------------------------------------- */

static void random_hex(char *out, size_t digits)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < digits; i++)
        out[i] = hex[randombytes_uniform(16)];
    out[digits] = '\0';
}

typedef struct img {
    char pdq[65], md5[33], sha[65];
} img_t;

static img_t new_img(void)
{
    img_t m;
    random_hex(m.pdq, 64);
    random_hex(m.md5, 32);
    random_hex(m.sha, 64);
    return m;
}

static char *item_json(const img_t *m, int quality)
{
    char *s = NULL;
    if (asprintf(&s, "{\"pdq\":\"%s\",\"quality\":%d,\"md5\":\"%s\",\"sha256\":\"%s\"}", m->pdq,
                 quality, m->md5, m->sha) < 0)
        fail_msg("asprintf");
    return s;
}

/* {"images":[n items]} of fresh images; keeps them in out if non-NULL. */
static char *images_body(int n, img_t *out)
{
    size_t cap = 64 + (size_t)n * 256, o = 0;
    char *b = malloc(cap);
    o += (size_t)snprintf(b, cap, "{\"images\":[");
    for (int i = 0; i < n; i++) {
        img_t m = new_img();
        if (out)
            out[i] = m;
        char *it = item_json(&m, 90);
        o += (size_t)snprintf(b + o, cap - o, "%s%s", i ? "," : "", it);
        free(it);
    }
    snprintf(b + o, cap - o, "]}");
    return b;
}

/* Sends one request on c and reads its answer. */
static void call(sitr_e2e_client_t *c, const char *method, const char *path, const char *secret,
                 const char *body, sitr_e2e_resp_t *r)
{
    char *req = NULL;
    char auth[128] = "";
    if (secret)
        snprintf(auth, sizeof auth, "Authorization: Case %s\r\n", secret);
    size_t blen = body ? strlen(body) : 0;
    if (asprintf(&req, "%s %s HTTP/1.1\r\nHost: t\r\n%s%sContent-Length: %zu\r\n\r\n%s", method,
                 path, auth, body ? "Content-Type: application/json\r\n" : "", blen,
                 body ? body : "") < 0)
        fail_msg("asprintf");
    assert_int_equal(sitr_e2e_send_str(c, req), 0);
    free(req);
    assert_int_equal(sitr_e2e_read(c, r, 0), 0);
    assert_non_null(sitr_e2e_header(r, "X-Request-Id"));
}

/* Same, on the shared keep-alive connection, which must stay open. */
static void kcall(const char *method, const char *path, const char *secret, const char *body,
                  sitr_e2e_resp_t *r)
{
    call(&W.conn, method, path, secret, body, r);
    const char *conn = sitr_e2e_header(r, "Connection");
    if (conn && strcmp(conn, "close") == 0)
        fail_msg("%s %s closed the keep-alive connection (status %d)", method, path, r->status);
}

static void expect_error(const sitr_e2e_resp_t *r, int status, const char *code, const char *field)
{
    if (r->status != status)
        fail_msg("status %d, want %d: %s", r->status, status, r->body);
    json_t *j = sitr_e2e_json(r->body);
    json_t *e = json_object_get(j, "error");
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    assert_non_null(json_string_value(json_object_get(e, "message")));
    if (field)
        assert_string_equal(json_string_value(json_object_get(e, "field")), field);
    else
        assert_null(json_object_get(e, "field"));
    json_decref(j);
}

typedef struct made {
    char ref[64], secret[64], path[128], images_path[160];
} made_t;

static made_t create_case(sitr_e2e_client_t *c, const char *body)
{
    sitr_e2e_resp_t r;
    call(c, "POST", "/v1/cases", NULL, body, &r);
    if (r.status != 201)
        fail_msg("create: %d %s", r.status, r.body);
    json_t *j = sitr_e2e_json(r.body);
    made_t m;
    snprintf(m.ref, sizeof m.ref, "%s", json_string_value(json_object_get(j, "case")));
    snprintf(m.secret, sizeof m.secret, "%s", json_string_value(json_object_get(j, "secret")));
    snprintf(m.path, sizeof m.path, "/v1/cases/%s", m.ref);
    snprintf(m.images_path, sizeof m.images_path, "/v1/cases/%s/images", m.ref);
    json_decref(j);
    sitr_e2e_resp_free(&r);
    return m;
}

static long long case_id_of(const char *ref)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id FROM cases WHERE reference = '%s'", ref);
    return pgt_scalar(W.db_url, sql);
}

/* ---- fixture ------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    W.db_url = sitr_e2e_migrated_db("cases_e2e");
    if (!W.db_url)
        return -1;
    static char url_var[1200], per_req[64], per_case[64];
    snprintf(url_var, sizeof url_var, "SITR_DATABASE_URL=%s", W.db_url);
    snprintf(per_req, sizeof per_req, "SITR_MAX_IMAGES_PER_REQUEST=%d", MAX_PER_REQUEST);
    snprintf(per_case, sizeof per_case, "SITR_MAX_IMAGES_PER_CASE=%d", MAX_PER_CASE);
    /* The case routes take the whole body limit (4 MiB by default, for
     * videos): a small one keeps the 413 test's body small. */
    const char *env[] = {
        url_var, per_req, per_case, "SITR_CASE_RATE=1000", "SITR_MAX_BODY_BYTES=32768", NULL};
    if (sitr_e2e_start(&W.srv, env) < 0)
        return -1;
    /* Ready means the schema check passed. */
    if (sitr_e2e_wait_ready(&W.srv, 20000) < 0)
        return -1;
    return sitr_e2e_connect(&W.srv, &W.conn);
}

static int teardown(void **state)
{
    (void)state;
    sitr_e2e_close(&W.conn);
    int rc = sitr_e2e_stop(&W.srv);
    free(W.db_url);
    return rc == 0 ? 0 : -1;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_create_and_status(void **state)
{
    (void)state;
    img_t imgs[3];
    char *body = images_body(3, imgs);
    sitr_e2e_resp_t r;
    kcall("POST", "/v1/cases", NULL, body, &r);
    free(body);
    assert_int_equal(r.status, 201);
    assert_string_equal(sitr_e2e_header(&r, "Cache-Control"), "no-store");
    json_t *j = sitr_e2e_json(r.body);
    const char *ref = json_string_value(json_object_get(j, "case"));
    const char *secret = json_string_value(json_object_get(j, "secret"));
    assert_int_equal(json_integer_value(json_object_get(j, "images")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "duplicates")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "warnings")), 0);
    /* Formats: canonical tokens with a valid check symbol. */
    char canon[SITR_TOKEN_MAX_LEN + 1];
    assert_int_equal(strlen(ref), SITR_TOKEN_REFERENCE_LEN);
    assert_int_equal(strlen(secret), SITR_TOKEN_SECRET_LEN);
    assert_int_equal(sitr_token_parse(SITR_TOKEN_REFERENCE, ref, strlen(ref), canon, sizeof canon),
                     0);
    assert_string_equal(canon, ref);
    assert_int_equal(
        sitr_token_parse(SITR_TOKEN_SECRET, secret, strlen(secret), canon, sizeof canon), 0);
    assert_string_equal(canon, secret);
    char loc[128];
    snprintf(loc, sizeof loc, "/v1/cases/%s", ref);
    assert_string_equal(sitr_e2e_header(&r, "Location"), loc);

    /* The database holds the secret only as a 32-byte digest. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cases WHERE reference = '%s' AND octet_length(secret_digest) "
             "= 32 AND position(convert_to('%s', 'UTF8') in secret_digest) = 0",
             ref, secret);
    assert_int_equal(pgt_scalar(W.db_url, sql), 1);

    sitr_e2e_resp_t g;
    kcall("GET", loc, secret, NULL, &g);
    assert_int_equal(g.status, 200);
    assert_string_equal(sitr_e2e_header(&g, "Cache-Control"), "no-store");
    json_t *st = sitr_e2e_json(g.body);
    assert_string_equal(json_string_value(json_object_get(st, "case")), ref);
    assert_int_equal(json_integer_value(json_object_get(st, "images")), 3);
    assert_int_equal(json_integer_value(json_object_get(st, "matches")), 0);
    assert_int_equal(json_integer_value(json_object_get(st, "uploads_blocked")), 0);
    json_t *td = json_object_get(st, "takedowns");
    assert_int_equal(json_integer_value(json_object_get(td, "requested")), 0);
    assert_int_equal(json_integer_value(json_object_get(td, "removed")), 0);
    assert_int_equal(json_integer_value(json_object_get(td, "rejected")), 0);
    assert_int_equal(json_integer_value(json_object_get(td, "not_found")), 0);
    json_t *tl = json_object_get(st, "timeline");
    assert_int_equal(json_array_size(tl), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tl, 0), "event")),
                        "case_created");
    /* Never a hash, never the secret. */
    for (int i = 0; i < 3; i++) {
        assert_null(strstr(g.body, imgs[i].pdq));
        assert_null(strstr(g.body, imgs[i].md5));
        assert_null(strstr(g.body, imgs[i].sha));
    }
    assert_null(strstr(g.body, secret));

    /* The secret as a person might type it: lower case, spaces, O for 0. */
    char typed[64];
    size_t t = 0;
    for (const char *p = secret; *p; p++) {
        char ch = *p == '-' ? ' ' : (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        typed[t++] = *p == '0' ? 'O' : ch;
    }
    typed[t] = '\0';
    sitr_e2e_resp_t g2;
    kcall("GET", loc, typed, NULL, &g2);
    assert_int_equal(g2.status, 200);

    json_decref(st);
    json_decref(j);
    sitr_e2e_resp_free(&r);
    sitr_e2e_resp_free(&g);
    sitr_e2e_resp_free(&g2);
}

static void test_same_answer_for_strangers(void **state)
{
    (void)state;
    char *body = images_body(1, NULL);
    made_t a = create_case(&W.conn, body);
    made_t b = create_case(&W.conn, body); /* same images in another case: allowed */
    free(body);

    char other[SITR_TOKEN_MAX_LEN + 1], unknown_ref[SITR_TOKEN_MAX_LEN + 1];
    assert_int_equal(sitr_token_generate(SITR_TOKEN_SECRET, other, sizeof other), 0);
    assert_int_equal(sitr_token_generate(SITR_TOKEN_REFERENCE, unknown_ref, sizeof unknown_ref), 0);
    char unknown_path[128];
    snprintf(unknown_path, sizeof unknown_path, "/v1/cases/%s", unknown_ref);

    sitr_e2e_resp_t r[4];
    kcall("GET", a.path, other, NULL, &r[0]);          /* wrong secret */
    kcall("GET", a.path, b.secret, NULL, &r[1]);       /* another case's secret */
    kcall("GET", unknown_path, a.secret, NULL, &r[2]); /* unknown case */
    /* withdrawn case */
    sitr_e2e_resp_t d;
    kcall("DELETE", b.path, b.secret, NULL, &d);
    assert_int_equal(d.status, 200);
    sitr_e2e_resp_free(&d);
    kcall("GET", b.path, b.secret, NULL, &r[3]);
    for (int i = 0; i < 4; i++) {
        expect_error(&r[i], 404, "case_not_found", NULL);
        assert_string_equal(r[i].body, r[0].body);
        assert_int_equal(r[i].body_len, r[0].body_len);
        assert_string_equal(sitr_e2e_header(&r[i], "Content-Type"),
                            sitr_e2e_header(&r[0], "Content-Type"));
    }
    for (int i = 0; i < 4; i++)
        sitr_e2e_resp_free(&r[i]);
    /* The same for adding images and withdrawing. */
    char *more = images_body(1, NULL);
    sitr_e2e_resp_t x;
    kcall("POST", a.images_path, other, more, &x);
    expect_error(&x, 404, "case_not_found", NULL);
    sitr_e2e_resp_free(&x);
    kcall("POST", b.images_path, b.secret, more, &x);
    expect_error(&x, 404, "case_not_found", NULL);
    sitr_e2e_resp_free(&x);
    kcall("DELETE", a.path, other, NULL, &x);
    expect_error(&x, 404, "case_not_found", NULL);
    sitr_e2e_resp_free(&x);
    free(more);
    /* The right secret still works: nothing above touched case a. */
    kcall("GET", a.path, a.secret, NULL, &x);
    assert_int_equal(x.status, 200);
    sitr_e2e_resp_free(&x);

    /* Malformed credentials are told apart: that reveals nothing. */
    kcall("GET", a.path, NULL, NULL, &x);
    expect_error(&x, 401, "case_secret_required", NULL);
    assert_string_equal(sitr_e2e_header(&x, "WWW-Authenticate"), "Case");
    sitr_e2e_resp_free(&x);
    char typo[64];
    snprintf(typo, sizeof typo, "%s", a.secret);
    typo[0] = typo[0] == 'A' ? 'B' : 'A';
    kcall("GET", a.path, typo, NULL, &x);
    expect_error(&x, 400, "invalid_secret", "Authorization");
    sitr_e2e_resp_free(&x);
    kcall("GET", "/v1/cases/SITR-NOT-A-REFERENCE", a.secret, NULL, &x);
    expect_error(&x, 400, "invalid_reference", "case");
    sitr_e2e_resp_free(&x);
}

static void test_add_images_caps_and_duplicates(void **state)
{
    (void)state;
    img_t first[2];
    char *body = images_body(2, first);
    made_t c = create_case(&W.conn, body);
    free(body);

    /* One known image (duplicate of the case), one new, one repeated in the
     * request, one whose PDQ is too plain (its digests are kept). */
    img_t fresh = new_img(), plain = new_img();
    char *k = item_json(&first[0], 90), *n = item_json(&fresh, 77), *p = item_json(&plain, 30);
    char *add = NULL;
    assert_true(asprintf(&add, "{\"images\":[%s,%s,%s,%s]}", k, n, n, p) > 0);
    sitr_e2e_resp_t r;
    kcall("POST", c.images_path, c.secret, add, &r);
    if (r.status != 200)
        fail_msg("add: %d %s", r.status, r.body);
    json_t *j = sitr_e2e_json(r.body);
    assert_int_equal(json_integer_value(json_object_get(j, "added")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "images")), 4);
    assert_int_equal(json_integer_value(json_object_get(j, "duplicates")), 2);
    json_t *w = json_object_get(j, "warnings");
    assert_int_equal(json_array_size(w), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(w, 0), "code")),
                        "pdq_quality_too_low");
    assert_string_equal(json_string_value(json_object_get(json_array_get(w, 0), "field")),
                        "images[3].quality");
    json_decref(j);
    sitr_e2e_resp_free(&r);
    /* SQL: the plain image has no PDQ, only its digests. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM case_images WHERE md5 = decode('%s', 'hex') AND pdq IS NULL "
             "AND quality IS NULL AND sha256 = decode('%s', 'hex')",
             plain.md5, plain.sha);
    assert_int_equal(pgt_scalar(W.db_url, sql), 1);

    /* Per request: more than MAX_PER_REQUEST. */
    char *big = images_body(MAX_PER_REQUEST + 1, NULL);
    kcall("POST", c.images_path, c.secret, big, &r);
    expect_error(&r, 422, "too_many_images", "images");
    sitr_e2e_resp_free(&r);
    free(big);
    /* Per case: 4 stored + 4 new > MAX_PER_CASE (7); nothing is added. */
    char *four = images_body(4, NULL);
    kcall("POST", c.images_path, c.secret, four, &r);
    expect_error(&r, 422, "too_many_images", "images");
    sitr_e2e_resp_free(&r);
    free(four);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM case_images WHERE case_id = %lld",
             case_id_of(c.ref));
    assert_int_equal(pgt_scalar(W.db_url, sql), 4);
    /* Exactly up to the cap is fine. */
    char *three = images_body(3, NULL);
    kcall("POST", c.images_path, c.secret, three, &r);
    assert_int_equal(r.status, 200);
    sitr_e2e_resp_free(&r);
    free(three);
    char *one = images_body(1, NULL);
    kcall("POST", c.images_path, c.secret, one, &r);
    expect_error(&r, 422, "too_many_images", "images");
    sitr_e2e_resp_free(&r);
    free(one);
    free(k);
    free(n);
    free(p);
    free(add);
}

static void test_invalid_bodies(void **state)
{
    (void)state;
    static const struct {
        const char *body, *code, *field;
    } bad[] = {
        {"{\"images\":[{\"pdq\":\"0123\",\"quality\":90}]}", "invalid_hex", "images[0].pdq"},
        {"{\"images\":[{\"md5\":\"zz1d8cd98f00b204e9800998ecf8427e\"}]}", "invalid_hex",
         "images[0].md5"},
        {"{\"images\":[{\"md5\":\"d41d8cd98f00b204e9800998ecf8427e\"},{\"sha256\":"
         "\"d41d8cd98f00b204e9800998ecf8427e\"}]}",
         "invalid_hex", "images[1].sha256"},
        {"{\"images\":[{\"md5\":\"d41d8cd98f00b204e9800998ecf8427e\",\"pdqq\":\"x\"}]}",
         "unknown_field", "images[0].pdqq"},
        {"{\"images\":[],\"x\":1}", "unknown_field", "x"},
        {"{\"images\":[]}", "no_images", "images"},
        {"{}", "images_required", "images"},
        {"{\"images\":[{}]}", "image_empty", "images[0]"},
        {"{\"images\":[{\"pdq\":"
         "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
         "\"quality\":49}]}",
         "pdq_quality_too_low", "images[0].quality"},
        {"{\"images\":[{\"pdq\":"
         "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
         "\"quality\":\"high\"}]}",
         "invalid_type", "images[0].quality"},
        {"{\"images\":[{\"pdq\":"
         "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
         "\"quality\":90,\"dihedral\":[1]}]}",
         "invalid_type", "images[0].dihedral[0]"},
    };
    long long before = pgt_scalar(W.db_url, "SELECT count(*) FROM cases");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sitr_e2e_resp_t r;
        kcall("POST", "/v1/cases", NULL, bad[i].body, &r);
        expect_error(&r, 422, bad[i].code, bad[i].field);
        sitr_e2e_resp_free(&r);
    }
    /* Too many in one request at creation. */
    char *six = images_body(MAX_PER_REQUEST + 1, NULL);
    sitr_e2e_resp_t r;
    kcall("POST", "/v1/cases", NULL, six, &r);
    expect_error(&r, 422, "too_many_images", "images");
    sitr_e2e_resp_free(&r);
    free(six);
    /* Not JSON, duplicate keys, wrong content type. */
    kcall("POST", "/v1/cases", NULL, "{\"images\":[", &r);
    expect_error(&r, 400, "malformed_json", NULL);
    sitr_e2e_resp_free(&r);
    kcall("POST", "/v1/cases", NULL, "{\"images\":[{\"md5\":1},{\"md5\":2}],\"images\":1}", &r);
    expect_error(&r, 400, "malformed_json", NULL); /* duplicate keys are refused */
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_send_str(&W.conn, "POST /v1/cases HTTP/1.1\r\nHost: t\r\n"
                                                "Content-Type: text/plain\r\n"
                                                "Content-Length: 2\r\n\r\n{}"),
                     0);
    assert_int_equal(sitr_e2e_read(&W.conn, &r, 0), 0);
    expect_error(&r, 415, "unsupported_media_type", NULL);
    sitr_e2e_resp_free(&r);
    /* Nothing was created by any of these. */
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM cases"), before);

    /* 413: a body above the route's cap (the case routes take the server's
     * whole body limit, set to 32 KiB for this test), on its own connection
     * (the server closes it after refusing). */
    size_t big = 64 * 1024;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    huge[big] = '\0';
    sitr_e2e_client_t c;
    assert_int_equal(sitr_e2e_connect(&W.srv, &c), 0);
    call(&c, "POST", "/v1/cases", NULL, huge, &r);
    expect_error(&r, 413, "body_too_large", NULL);
    sitr_e2e_resp_free(&r);
    sitr_e2e_close(&c);
    free(huge);
}

static void test_pipelined_status(void **state)
{
    (void)state;
    char *body = images_body(1, NULL);
    made_t c = create_case(&W.conn, body);
    free(body);
    char *req = NULL;
    assert_true(asprintf(&req,
                         "GET %s HTTP/1.1\r\nHost: t\r\nAuthorization: Case %s\r\n\r\n"
                         "GET %s HTTP/1.1\r\nHost: t\r\nAuthorization: Case %s\r\n\r\n"
                         "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
                         c.path, c.secret, c.path, "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA") > 0);
    assert_int_equal(sitr_e2e_send_str(&W.conn, req), 0);
    free(req);
    sitr_e2e_resp_t r[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(sitr_e2e_read(&W.conn, &r[i], 0), 0);
    assert_int_equal(r[0].status, 200);
    /* Thirty A's: the check symbol of twenty-nine A's is Q (value 23), not
     * A, so the secret is refused as mistyped before any database work. */
    expect_error(&r[1], 400, "invalid_secret", "Authorization");
    assert_int_equal(r[2].status, 200);
    for (int i = 0; i < 3; i++)
        sitr_e2e_resp_free(&r[i]);
}

static void test_withdraw_erases(void **state)
{
    (void)state;
    img_t imgs[2];
    char *body = images_body(2, imgs);
    made_t c = create_case(&W.conn, body);
    free(body);
    /* Add dihedral variants too, so that their table is checked. */
    img_t d = new_img();
    char v1[65], v2[65];
    random_hex(v1, 64);
    random_hex(v2, 64);
    char *add = NULL;
    assert_true(asprintf(&add,
                         "{\"images\":[{\"pdq\":\"%s\",\"quality\":88,\"dihedral\":[\"%s\",\"%s\","
                         "\"%s\"]}]}",
                         d.pdq, d.pdq, v1, v2) > 0);
    sitr_e2e_resp_t r;
    kcall("POST", c.images_path, c.secret, add, &r);
    assert_int_equal(r.status, 200);
    sitr_e2e_resp_free(&r);
    free(add);

    long long id = case_id_of(c.ref);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM case_images WHERE case_id = %lld AND (pdq IS NOT NULL OR md5 "
             "IS NOT NULL OR sha256 IS NOT NULL OR quality IS NOT NULL)",
             id);
    const char *q_live = strdup(sql);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM case_image_variants v JOIN case_images i ON i.id = v.image_id "
             "WHERE i.case_id = %lld",
             id);
    const char *q_var = strdup(sql);
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM case_images WHERE md5 = decode('%s','hex') OR sha256 = "
             "decode('%s','hex') OR pdq = decode('%s','hex') OR pdq = decode('%s','hex')) + "
             "(SELECT count(*) FROM case_image_variants WHERE pdq IN (decode('%s','hex'), "
             "decode('%s','hex')))",
             imgs[0].md5, imgs[1].sha, imgs[0].pdq, d.pdq, v1, v2);
    const char *q_hashes = strdup(sql);
    /* Before: the hashes are there (so the checks below can fail). */
    assert_int_equal(pgt_scalar(W.db_url, q_live), 3);
    assert_int_equal(pgt_scalar(W.db_url, q_var), 2);
    assert_int_equal(pgt_scalar(W.db_url, q_hashes), 5); /* 3 image rows, 2 variants */

    kcall("DELETE", c.path, c.secret, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *j = sitr_e2e_json(r.body);
    assert_true(json_is_true(json_object_get(j, "withdrawn")));
    json_decref(j);
    sitr_e2e_resp_free(&r);

    /* After: no row holds any hash of the case. */
    assert_int_equal(pgt_scalar(W.db_url, q_live), 0);
    assert_int_equal(pgt_scalar(W.db_url, q_var), 0);
    assert_int_equal(pgt_scalar(W.db_url, q_hashes), 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cases WHERE id = %lld AND withdrawn_at IS NOT NULL", id);
    assert_int_equal(pgt_scalar(W.db_url, sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM changes WHERE kind = 'case_withdrawn' AND entity_id = %lld", id);
    assert_int_equal(pgt_scalar(W.db_url, sql), 1);

    /* Again: like an unknown case. */
    kcall("DELETE", c.path, c.secret, NULL, &r);
    expect_error(&r, 404, "case_not_found", NULL);
    sitr_e2e_resp_free(&r);
    free((void *)q_live);
    free((void *)q_var);
    free((void *)q_hashes);
}

/* A second sitrd with a tight creation limit: the limits are per address
 * and every test connects from 127.0.0.1. */
static void test_rate_limits(void **state)
{
    (void)state;
    static char url_var[1200];
    snprintf(url_var, sizeof url_var, "SITR_DATABASE_URL=%s", W.db_url);
    const char *env[] = {url_var, "SITR_CASE_RATE=2", NULL};
    sitr_e2e_server_t s;
    assert_int_equal(sitr_e2e_start(&s, env), 0);
    sitr_e2e_client_t c;
    assert_int_equal(sitr_e2e_connect(&s, &c), 0);
    char *body = images_body(1, NULL);
    sitr_e2e_resp_t r;
    /* Readiness first: the schema check may still be running. */
    for (int i = 0; i < 200; i++) {
        call(&c, "GET", "/readyz", NULL, NULL, &r);
        int ok = r.status == 200;
        sitr_e2e_resp_free(&r);
        if (ok)
            break;
        pgt_run("sleep 0.05");
    }
    made_t m = create_case(&c, body);
    (void)create_case(&c, body);
    long long before = pgt_scalar(W.db_url, "SELECT count(*) FROM cases");
    call(&c, "POST", "/v1/cases", NULL, body, &r);
    expect_error(&r, 429, "rate_limited", NULL);
    const char *ra = sitr_e2e_header(&r, "Retry-After");
    assert_non_null(ra);
    long secs = strtol(ra, NULL, 10);
    /* 2 per hour: the next token is about half an hour away. */
    assert_true(secs > 1700 && secs <= 1800);
    sitr_e2e_resp_free(&r);
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM cases"), before);
    /* Invalid requests are answered as such, not counted. */
    call(&c, "POST", "/v1/cases", NULL, "{\"images\":[]}", &r);
    expect_error(&r, 422, "no_images", "images");
    sitr_e2e_resp_free(&r);

    /* Guessing secrets: after the failure budget, even the right secret is
     * refused until the budget refills. */
    char wrong[SITR_TOKEN_MAX_LEN + 1];
    int guesses = 0;
    for (;;) {
        assert_int_equal(sitr_token_generate(SITR_TOKEN_SECRET, wrong, sizeof wrong), 0);
        call(&c, "GET", m.path, wrong, NULL, &r);
        int status = r.status;
        if (status == 429) {
            expect_error(&r, 429, "too_many_failures", NULL);
            assert_non_null(sitr_e2e_header(&r, "Retry-After"));
            sitr_e2e_resp_free(&r);
            break;
        }
        expect_error(&r, 404, "case_not_found", NULL);
        sitr_e2e_resp_free(&r);
        guesses++;
        assert_true(guesses <= 20);
    }
    assert_int_equal(guesses, 20);
    call(&c, "GET", m.path, m.secret, NULL, &r);
    expect_error(&r, 429, "too_many_failures", NULL);
    sitr_e2e_resp_free(&r);
    /* The metrics count both. */
    call(&c, "GET", "/metrics", NULL, NULL, &r);
    assert_non_null(strstr(r.body, "sitr_auth_failures_total 20"));
    assert_non_null(strstr(r.body, "sitr_cases_created_total 2"));
    sitr_e2e_resp_free(&r);
    free(body);
    sitr_e2e_close(&c);
    assert_int_equal(sitr_e2e_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_status),
        cmocka_unit_test(test_same_answer_for_strangers),
        cmocka_unit_test(test_add_images_caps_and_duplicates),
        cmocka_unit_test(test_invalid_bodies),
        cmocka_unit_test(test_pipelined_status),
        cmocka_unit_test(test_withdraw_erases),
        cmocka_unit_test(test_rate_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
