/* The victims' web page: GET / (index.html) and GET /static/{file} (its
 * scripts and style sheet), served from memory.
 *
 * The files are a fixed table compiled in (name, content type); the folder
 * (cfg->web_dir, SITR_WEB_DIR) is read once by sitr_api_web_init, on the
 * loop thread before sitrd listens, and never again: no request touches the
 * file system, and a request can only name a table entry, so no path, dot
 * or escape in a URL can reach another file.  A missing or oversized file
 * is a start-up error naming it.
 *
 * texts.json is served without its "cli_*" keys: they are the `sitr`
 * command's words (compiled into it at build time from the same file, so a
 * translator edits one place) and would more than double what a phone
 * downloads.
 *
 * Every answer carries a strict Content-Security-Policy (same-origin
 * scripts, styles and requests only; images from blob: for previews; no
 * framing; heic-worker.js alone may also compile WebAssembly), no
 * referrer, an ETag (BLAKE2b of the bytes) and Cache-Control: no-cache,
 * so browsers revalidate and get 304 while the file is unchanged.  Loop
 * thread only. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include <sitr/err_service.h>

#include "api/web.h"
#include "api/report_page.h"
#include "api/state.h"
#include "net/server.h"

/* The page's files are a few tens of kilobytes, the HEIC decoder
 * (libheif.wasm) about 1 MB; a file beyond this is a mistake (a wrong
 * folder), not a page. */
#define WEB_MAX_FILE_BYTES (2 * 1024 * 1024)

/* The page's policy; "%s" is the hash of the evidence report's one inline
 * style (report_page.c), so that the page can print the report it fetched
 * in a frame of its own (app.js printReport) and nothing else inline. */
#define WEB_CSP_FMT                                                                                \
    "default-src 'self'; img-src 'self' blob:; connect-src 'self'; script-src 'self'%s; "          \
    "style-src 'self' 'sha256-%s'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
/* Only the HEIC decoder's Worker (whose own answer's policy governs it) may
 * compile WebAssembly; it cannot evaluate JavaScript from text. */
#define WEB_CSP_WASM    " 'wasm-unsafe-eval'"
#define WEB_WASM_WORKER "heic-worker.js"

typedef struct web_file_def {
    const char *name; /* file name in the web folder and after /static/ */
    const char *content_type;
} web_file_def_t;

/* The whole page.  index.html is served at "/", the others under /static/. */
static const web_file_def_t web_files[] = {
    {"index.html", "text/html; charset=utf-8"},
    {"app.js", "text/javascript; charset=utf-8"},
    {"pdq.js", "text/javascript; charset=utf-8"},
    {"md5.js", "text/javascript; charset=utf-8"},
    {"sha256.js", "text/javascript; charset=utf-8"},
    {"mp4.js", "text/javascript; charset=utf-8"},
    {"vpdq.js", "text/javascript; charset=utf-8"},
    {"video-worker.js", "text/javascript; charset=utf-8"},
    /* HEIC/HEIF photos: the page's module, its Worker and the decoder
     * (libheif + libde265 in WebAssembly, vendored from libheif-js). */
    {"heic.js", "text/javascript; charset=utf-8"},
    {"heic-worker.js", "text/javascript; charset=utf-8"},
    {"libheif.js", "text/javascript; charset=utf-8"},
    {"libheif.wasm", "application/wasm"},
    {"i18n.js", "text/javascript; charset=utf-8"},
    /* Her thumbnails, for her own eyes (memory only, never sent). */
    {"thumb.js", "text/javascript; charset=utf-8"},
    /* How a typed case number or secret is read (common/token.c's rule). */
    {"token.js", "text/javascript; charset=utf-8"},
    /* Every text of the page and of the evidence report (report_page.c), in
     * the three languages: the one file a translator edits. */
    {"texts.json", "application/json; charset=utf-8"},
    {"style.css", "text/css; charset=utf-8"},
    /* GET /verify: checks a report's signature in the browser. */
    {"verify.html", "text/html; charset=utf-8"},
    {"verify.js", "text/javascript; charset=utf-8"},
    /* The tab's icon (also answered at /favicon.ico). */
    {"icon.svg", "image/svg+xml"},
};

#define WEB_NFILES (sizeof web_files / sizeof web_files[0])

/* The icon is the last entry, the /verify page and its script before it. */
#define WEB_ICON   (WEB_NFILES - 1)
#define WEB_VERIFY (WEB_NFILES - 3)

typedef struct web_file {
    uint8_t *data;
    size_t len;
    char etag[2 + 2 * 16 + 1]; /* "..." around 32 hex digits */
} web_file_t;

struct sitr_web {
    web_file_t files[WEB_NFILES];
    char csp[sizeof WEB_CSP_FMT + 48];
    char csp_wasm[sizeof WEB_CSP_FMT + sizeof WEB_CSP_WASM + 48];
};

/* The Content-Security-Policy of the page, with the report style's hash. */
static void build_csp(sitr_web_t *web)
{
    const char *style = sitr_report_page_style();
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const uint8_t *)style, strlen(style));
    char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, digest, sizeof digest, sodium_base64_VARIANT_ORIGINAL);
    snprintf(web->csp, sizeof web->csp, WEB_CSP_FMT, "", b64);
    snprintf(web->csp_wasm, sizeof web->csp_wasm, WEB_CSP_FMT, WEB_CSP_WASM, b64);
}

void sitr_api_web_free(sitr_web_t *web)
{
    if (!web)
        return;
    for (size_t i = 0; i < WEB_NFILES; i++)
        free(web->files[i].data);
    free(web);
}

/* Drops the "cli_*" texts from each language of the catalogue in
 * buf[0..*len) and writes it back compact.  0, or SITR_ECONFIG when the
 * file is not a JSON object of objects. */
static int strip_cli_texts(uint8_t **buf, size_t *len, sitr_err_t *err)
{
    json_error_t je;
    json_t *cat = json_loadb((const char *)*buf, *len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(cat)) {
        json_decref(cat);
        return sitr_err_set(err, SITR_ECONFIG, "web page: texts.json line %d: %s", je.line,
                            je.text);
    }
    const char *lang;
    json_t *table;
    json_object_foreach(cat, lang, table)
    {
        const char *key;
        json_t *v;
        void *tmp;
        if (!json_is_object(table)) {
            json_decref(cat);
            return sitr_err_set(err, SITR_ECONFIG, "web page: texts.json: \"%s\" is not an object",
                                lang);
        }
        json_object_foreach_safe(table, tmp, key, v)
        {
            if (strncmp(key, "cli_", 4) == 0)
                json_object_del(table, key);
        }
    }
    size_t n = json_dumpb(cat, NULL, 0, JSON_COMPACT);
    uint8_t *out = n ? malloc(n) : NULL;
    if (!out || json_dumpb(cat, (char *)out, n, JSON_COMPACT) != n) {
        free(out);
        json_decref(cat);
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    }
    json_decref(cat);
    free(*buf);
    *buf = out;
    *len = n;
    return 0;
}

static int read_file(const char *dir, const char *name, web_file_t *out, sitr_err_t *err)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return sitr_err_set(err, SITR_ECONFIG, "web folder path too long");
    FILE *f = fopen(path, "rb");
    if (!f)
        return sitr_err_set(err, SITR_ECONFIG, "web page: cannot open %s: %s (set SITR_WEB_DIR)",
                            path, strerror(errno));
    uint8_t *buf = malloc(WEB_MAX_FILE_BYTES + 1);
    if (!buf) {
        fclose(f);
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, WEB_MAX_FILE_BYTES + 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || n > WEB_MAX_FILE_BYTES || n == 0) {
        free(buf);
        return sitr_err_set(err, SITR_ECONFIG, "web page: %s is %s", path,
                            failed ? "unreadable"
                            : n    ? "larger than 2 MiB"
                                   : "empty");
    }
    if (strcmp(name, "texts.json") == 0) {
        int rc = strip_cli_texts(&buf, &n, err);
        if (rc < 0) {
            free(buf);
            return rc;
        }
    }
    uint8_t *shrunk = realloc(buf, n);
    out->data = shrunk ? shrunk : buf;
    out->len = n;
    uint8_t digest[16];
    crypto_generichash(digest, sizeof digest, out->data, n, NULL, 0);
    out->etag[0] = '"';
    sodium_bin2hex(out->etag + 1, sizeof out->etag - 1, digest, sizeof digest);
    strcat(out->etag, "\"");
    return 0;
}

int sitr_api_web_load(const char *dir, sitr_web_t **out, sitr_err_t *err)
{
    *out = NULL;
    if (!dir || !dir[0])
        return sitr_err_set(err, SITR_ECONFIG, "web page: no folder (set SITR_WEB_DIR)");
    sitr_web_t *web = calloc(1, sizeof *web);
    if (!web)
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    for (size_t i = 0; i < WEB_NFILES; i++) {
        int rc = read_file(dir, web_files[i].name, &web->files[i], err);
        if (rc < 0) {
            sitr_api_web_free(web);
            return rc;
        }
    }
    build_csp(web);
    *out = web;
    return 0;
}

const uint8_t *sitr_api_web_file(const sitr_web_t *web, const char *name, size_t *len)
{
    for (size_t i = 0; web && i < WEB_NFILES; i++)
        if (strcmp(web_files[i].name, name) == 0) {
            *len = web->files[i].len;
            return web->files[i].data;
        }
    *len = 0;
    return NULL;
}

/* Does the If-None-Match header list etag (or "*")?  Weak validators
 * (W/"...") compare equal too: the bytes are the same either way. */
static int etag_matches(const char *header, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (strncmp(p, etag, elen) == 0 &&
            (p[elen] == '\0' || p[elen] == ',' || p[elen] == ' ' || p[elen] == '\t'))
            return 1;
        while (*p && *p != ',')
            p++;
    }
    return 0;
}

static int serve(sitr_req_t *req, size_t index)
{
    const sitr_api_t *api = sitr_req_server(req)->app;
    if (!api || !api->web) {
        sitr_req_reply_error(req, 503, "unavailable", "the page is not loaded", NULL);
        return 0;
    }
    const web_file_t *file = &api->web->files[index];
    sitr_req_add_header(req, "Content-Security-Policy",
                        strcmp(web_files[index].name, WEB_WASM_WORKER) == 0 ? api->web->csp_wasm
                                                                            : api->web->csp);
    sitr_req_add_header(req, "Referrer-Policy", "no-referrer");
    sitr_req_add_header(req, "X-Frame-Options", "DENY");
    sitr_req_add_header(req, "Cross-Origin-Opener-Policy", "same-origin");
    sitr_req_add_header(req, "Cross-Origin-Resource-Policy", "same-origin");
    sitr_req_add_header(req, "Permissions-Policy", "camera=(), microphone=(), geolocation=()");
    sitr_req_add_header(req, "Cache-Control", "no-cache");
    sitr_req_add_header(req, "ETag", file->etag);
    const char *inm = sitr_req_header(req, "If-None-Match");
    if (inm && etag_matches(inm, file->etag)) {
        sitr_req_reply(req, 304, NULL, NULL, 0);
        return 0;
    }
    sitr_req_reply(req, 200, web_files[index].content_type, file->data, file->len);
    return 0;
}

int sitr_api_web_index(sitr_req_t *req)
{
    return serve(req, 0);
}

int sitr_api_web_verify(sitr_req_t *req)
{
    assert(strcmp(web_files[WEB_VERIFY].name, "verify.html") == 0);
    return serve(req, WEB_VERIFY);
}

int sitr_api_web_favicon(sitr_req_t *req)
{
    assert(strcmp(web_files[WEB_ICON].name, "icon.svg") == 0);
    return serve(req, WEB_ICON);
}

int sitr_api_web_static(sitr_req_t *req)
{
    const char *name = sitr_req_param(req, "file");
    /* index 0 is the page itself, only served at "/", and verify.html
     * only at "/verify". */
    for (size_t i = 1; name && i < WEB_NFILES; i++)
        if (i != WEB_VERIFY && strcmp(name, web_files[i].name) == 0)
            return serve(req, i);
    sitr_req_reply_error(req, 404, "not_found", "no such file", NULL);
    return 0;
}
