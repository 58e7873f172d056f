/* End-to-end tests of the victims' web page as sitrd serves it (api_web.c),
 * against the real binary and a fresh migrated database (the `pg` fixture):
 * every file of the page with its exact bytes, content type and security
 * headers; ETag revalidation (304) and HEAD; nothing outside the fixed
 * table is reachable (dot segments, encoded slashes, other names); the files
 * are read once at start-up (changing them on disk changes nothing until a
 * restart); a missing page folder stops sitrd with a message naming
 * SITR_WEB_DIR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "e2e_util.h"
#include "e2e_world.h"
#include "db_support.h"

#define WEB_SRC SITR_SOURCE_DIR "/service/web"
/* The page's policy around the hash of the evidence report's inline style
 * (the one inline style the page may use, to print the report). */
#define CSP_HEAD                                                                                   \
    "default-src 'self'; img-src 'self' blob:; connect-src 'self'; script-src 'self'; "            \
    "style-src 'self' 'sha256-"
#define CSP_TAIL "'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
/* The HEIC decoder's Worker alone may also compile WebAssembly. */
#define CSP_HEAD_WASM                                                                              \
    "default-src 'self'; img-src 'self' blob:; connect-src 'self'; "                               \
    "script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'sha256-"

static const struct {
    const char *url, *file, *type;
} FILES[] = {
    {"/", "index.html", "text/html; charset=utf-8"},
    {"/static/app.js", "app.js", "text/javascript; charset=utf-8"},
    {"/static/pdq.js", "pdq.js", "text/javascript; charset=utf-8"},
    {"/static/md5.js", "md5.js", "text/javascript; charset=utf-8"},
    {"/static/sha256.js", "sha256.js", "text/javascript; charset=utf-8"},
    {"/static/mp4.js", "mp4.js", "text/javascript; charset=utf-8"},
    {"/static/vpdq.js", "vpdq.js", "text/javascript; charset=utf-8"},
    {"/static/video-worker.js", "video-worker.js", "text/javascript; charset=utf-8"},
    {"/static/heic.js", "heic.js", "text/javascript; charset=utf-8"},
    {"/static/heic-worker.js", "heic-worker.js", "text/javascript; charset=utf-8"},
    {"/static/libheif.js", "libheif.js", "text/javascript; charset=utf-8"},
    {"/static/libheif.wasm", "libheif.wasm", "application/wasm"},
    {"/static/i18n.js", "i18n.js", "text/javascript; charset=utf-8"},
    {"/static/token.js", "token.js", "text/javascript; charset=utf-8"},
    {"/static/texts.json", "texts.json", "application/json; charset=utf-8"},
    {"/static/style.css", "style.css", "text/css; charset=utf-8"},
    {"/static/icon.svg", "icon.svg", "image/svg+xml"},
    {"/favicon.ico", "icon.svg", "image/svg+xml"},
    {"/verify", "verify.html", "text/html; charset=utf-8"},
    {"/static/verify.js", "verify.js", "text/javascript; charset=utf-8"},
};
#define NFILES (sizeof FILES / sizeof FILES[0])

static char *db_url;
static char db_var[1024];
static sitr_e2e_server_t srv;

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = malloc(2 << 20);
    *len = fread(buf, 1, 2 << 20, f);
    fclose(f);
    return buf;
}

static int setup(void **state)
{
    (void)state;
    db_url = sitr_e2e_migrated_db("web_e2e");
    if (!db_url)
        return -1;
    snprintf(db_var, sizeof db_var, "SITR_DATABASE_URL=%s", db_url);
    const char *env[] = {db_var, NULL};
    return sitr_e2e_start(&srv, env);
}

static int teardown(void **state)
{
    (void)state;
    int rc = sitr_e2e_stop(&srv);
    free(db_url);
    return rc == 0 ? 0 : -1;
}

static void expect_headers(const sitr_e2e_resp_t *r, const char *csp_head)
{
    const char *csp = sitr_e2e_header(r, "Content-Security-Policy");
    assert_non_null(csp);
    assert_int_equal(strlen(csp), strlen(csp_head) + 44 + strlen(CSP_TAIL));
    assert_memory_equal(csp, csp_head, strlen(csp_head));
    assert_string_equal(csp + strlen(csp_head) + 44, CSP_TAIL);
    assert_string_equal(sitr_e2e_header(r, "Referrer-Policy"), "no-referrer");
    assert_string_equal(sitr_e2e_header(r, "X-Frame-Options"), "DENY");
    assert_string_equal(sitr_e2e_header(r, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(sitr_e2e_header(r, "Cache-Control"), "no-cache");
    const char *etag = sitr_e2e_header(r, "ETag");
    assert_non_null(etag);
    assert_int_equal(strlen(etag), 34);
    assert_int_equal(etag[0], '"');
    assert_int_equal(etag[33], '"');
}

static void expect_page_headers(const sitr_e2e_resp_t *r)
{
    expect_headers(r, CSP_HEAD);
}

/* texts.json as served: the file's texts without the `sitr` command's
 * "cli_*" ones, which the page never shows. */
static void expect_page_texts(const char *served, size_t len, const char *file, size_t flen)
{
    json_t *got = json_loadb(served, len, 0, NULL);
    json_t *want = json_loadb(file, flen, 0, NULL);
    assert_non_null(got);
    assert_non_null(want);
    const char *lang;
    json_t *table;
    size_t dropped = 0;
    json_object_foreach(want, lang, table)
    {
        const char *key;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(table, tmp, key, v)
        {
            if (strncmp(key, "cli_", 4) == 0) {
                json_object_del(table, key);
                dropped++;
            }
        }
    }
    assert_true(dropped > 0);
    assert_true(json_equal(got, want));
    assert_null(strstr(served, "\"cli_"));
    assert_true(len < flen);
    json_decref(got);
    json_decref(want);
}

/* Every file: 200, its exact bytes (texts.json: its page texts), its type,
 * the strict headers. */
static void test_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < NFILES; i++) {
        size_t len;
        char *want = slurp(WEB_SRC, FILES[i].file, &len);
        sitr_e2e_resp_t r;
        assert_int_equal(sitr_e2e_request(&srv, "GET", FILES[i].url, NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(sitr_e2e_header(&r, "Content-Type"), FILES[i].type);
        expect_headers(&r, strcmp(FILES[i].file, "heic-worker.js") == 0 ? CSP_HEAD_WASM : CSP_HEAD);
        if (strcmp(FILES[i].file, "texts.json") == 0) {
            expect_page_texts(r.body, r.body_len, want, len);
        } else {
            assert_int_equal(r.body_len, len);
            assert_memory_equal(r.body, want, len);
        }
        sitr_e2e_resp_free(&r);
        free(want);
    }
}

/* The page references only files that are served. */
static void test_page_links(void **state)
{
    (void)state;
    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_request(&srv, "GET", "/", NULL, NULL, &r), 0);
    assert_non_null(strstr(r.body, "src=\"/static/app.js\""));
    assert_non_null(strstr(r.body, "href=\"/static/style.css\""));
    assert_non_null(strstr(r.body, "type=\"file\""));
    assert_null(strstr(r.body, "http://"));
    assert_null(strstr(r.body, "https://"));
    sitr_e2e_resp_free(&r);
}

/* ETag revalidation and HEAD. */
static void test_etag_head(void **state)
{
    (void)state;
    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_request(&srv, "GET", "/static/pdq.js", NULL, NULL, &r), 0);
    char etag[64];
    snprintf(etag, sizeof etag, "%s", sitr_e2e_header(&r, "ETag"));
    size_t full = r.body_len;
    sitr_e2e_resp_free(&r);

    char hdr[256];
    /* The tag alone, weak, in a list, and the wildcard. */
    const char *prefixes[] = {"", "W/", "\"0000\", ", NULL};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        if (prefixes[i])
            snprintf(hdr, sizeof hdr, "If-None-Match: %s%s\r\n", prefixes[i], etag);
        else
            snprintf(hdr, sizeof hdr, "If-None-Match: *\r\n");
        assert_int_equal(sitr_e2e_request(&srv, "GET", "/static/pdq.js", hdr, NULL, &r), 0);
        assert_int_equal(r.status, 304);
        assert_int_equal(r.body_len, 0);
        assert_string_equal(sitr_e2e_header(&r, "ETag"), etag);
        sitr_e2e_resp_free(&r);
    }
    /* Another file's tag, or a stale one, gets the full answer. */
    assert_int_equal(
        sitr_e2e_request(&srv, "GET", "/static/md5.js", "If-None-Match: \"abc\"\r\n", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    sitr_e2e_resp_free(&r);
    snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", etag);
    assert_int_equal(sitr_e2e_request(&srv, "GET", "/static/md5.js", hdr, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    sitr_e2e_resp_free(&r);

    sitr_e2e_client_t c;
    assert_int_equal(sitr_e2e_connect(&srv, &c), 0);
    assert_int_equal(sitr_e2e_send_str(&c, "HEAD /static/pdq.js HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(sitr_e2e_read(&c, &r, 1), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    char want_len[32];
    snprintf(want_len, sizeof want_len, "%zu", full);
    assert_string_equal(sitr_e2e_header(&r, "Content-Length"), want_len);
    expect_page_headers(&r);
    sitr_e2e_resp_free(&r);
    sitr_e2e_close(&c);
}

/* Only the table's names: no dot segments, encoded slashes, other files,
 * or the page under another name. */
static void test_no_traversal(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        int status;
    } cases[] = {
        {"/static/index.html", 404},
        {"/index.html", 404},
        {"/static/", 404},
        {"/static", 404},
        {"/static/app.js/x", 404},
        {"/static/APP.JS", 404},
        {"/static/app.js.map", 404},
        {"/static/..%2fapi_web.c", 404},
        {"/static/..%2F..%2Fservice%2Fconfig.c", 404},
        {"/static/%2e%2e%2fCMakeLists.txt", 404},
        {"/static/%2e%2e", 404},
        {"/static/../api_web.c", 404},
        {"/static/../../CMakeLists.txt", 404},
        {"/static/web%2fapp.js", 404},
        {"/static/%2fetc%2fpasswd", 404},
        {"/static/app.js%00", 400},
        {"/favicon.ico/x", 404},
        {"/static/verify.html", 404},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sitr_e2e_resp_t r;
        assert_int_equal(sitr_e2e_request(&srv, "GET", cases[i].path, NULL, NULL, &r), 0);
        if (r.status != cases[i].status)
            fail_msg("%s: %d, want %d", cases[i].path, r.status, cases[i].status);
        /* Never a file's content, whatever the answer. */
        assert_null(strstr(r.body, "#include"));
        assert_null(strstr(r.body, "cmake"));
        assert_null(strstr(r.body, "root:"));
        assert_non_null(strstr(r.body, "\"error\""));
        sitr_e2e_resp_free(&r);
    }
    sitr_e2e_resp_t r;
    assert_int_equal(
        sitr_e2e_request(&srv, "POST", "/", "Content-Type: application/json\r\n", "{}", &r), 0);
    assert_int_equal(r.status, 405);
    sitr_e2e_resp_free(&r);
}

/* The files are read at start-up only: editing them on disk changes nothing
 * until sitrd restarts, and SITR_WEB_DIR chooses the folder. */
static void test_loaded_once(void **state)
{
    (void)state;
    char dir[] = "/tmp/sitr-web-e2e-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(pgt_run("cp '%s'/*.html '%s'/*.js '%s'/*.json '%s'/style.css '%s'/*.svg "
                             "'%s'/*.wasm '%s'/",
                             WEB_SRC, WEB_SRC, WEB_SRC, WEB_SRC, WEB_SRC, WEB_SRC, dir),
                     0);
    assert_int_equal(pgt_run("echo '<!-- marker-one -->' >> '%s/index.html'", dir), 0);
    char web_var[256];
    snprintf(web_var, sizeof web_var, "SITR_WEB_DIR=%s", dir);
    const char *env[] = {db_var, web_var, NULL};
    sitr_e2e_server_t s2;
    assert_int_equal(sitr_e2e_start(&s2, env), 0);

    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_request(&s2, "GET", "/", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "marker-one"));
    char etag[64];
    snprintf(etag, sizeof etag, "%s", sitr_e2e_header(&r, "ETag"));
    sitr_e2e_resp_free(&r);

    assert_int_equal(pgt_run("echo '<!-- marker-two -->' > '%s/index.html'", dir), 0);
    assert_int_equal(pgt_run("rm -f '%s/app.js'", dir), 0);
    assert_int_equal(sitr_e2e_request(&s2, "GET", "/", NULL, NULL, &r), 0);
    assert_non_null(strstr(r.body, "marker-one"));
    assert_null(strstr(r.body, "marker-two"));
    assert_string_equal(sitr_e2e_header(&r, "ETag"), etag);
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_request(&s2, "GET", "/static/app.js", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_stop(&s2), 0);

    /* Now app.js is missing: sitrd refuses to start and says why. */
    sitr_e2e_server_t s3;
    assert_int_equal(sitr_e2e_start(&s3, env), -1);
    assert_true(sitr_e2e_log_contains(&s3, "app.js"));
    assert_true(sitr_e2e_log_contains(&s3, "SITR_WEB_DIR"));
    assert_int_equal(pgt_run("rm -rf '%s'", dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files),       cmocka_unit_test(test_page_links),
        cmocka_unit_test(test_etag_head),   cmocka_unit_test(test_no_traversal),
        cmocka_unit_test(test_loaded_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
