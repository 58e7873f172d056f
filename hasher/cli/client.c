/* libcurl front-end of the `sitr case` commands (contract in client.h).
 *
 * One easy handle per client so consecutive requests reuse the connection.
 * Answer bodies are collected into a growing buffer with a hard cap: past
 * SITR_CLIENT_MAX_ANSWER the write callback refuses the bytes and libcurl
 * aborts the transfer.  Headers are scanned only for X-Request-Id and
 * Retry-After.  Nothing here prints: the commands word the messages.
 * Runs on the main thread only. */
#include "client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sitr/err_service.h>

struct sitr_client {
    CURL *curl;
    char *base; /* without a trailing '/' */
    size_t max_answer;
};

typedef struct sink {
    char *buf;
    size_t len, cap;
    int too_big;
    size_t max;
    sitr_client_resp_t *resp;
} sink_t;

int sitr_client_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : SITR_EINTERNAL;
}

void sitr_client_global_cleanup(void)
{
    curl_global_cleanup();
}

const char *sitr_client_server(const sitr_client_t *c)
{
    return c->base;
}

sitr_client_t *sitr_client_new(const char *server, sitr_err_t *err)
{
    if (strncasecmp(server, "http://", 7) != 0 && strncasecmp(server, "https://", 8) != 0) {
        sitr_err_set(err, SITR_EINVAL, "the server URL must start with http:// or https://");
        return NULL;
    }
    for (const char *p = server; *p != '\0'; p++) {
        if (iscntrl((unsigned char)*p) || *p == ' ') {
            sitr_err_set(err, SITR_EINVAL, "the server URL contains a space or control character");
            return NULL;
        }
    }
    sitr_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->base = strdup(server)) == NULL || (c->curl = curl_easy_init()) == NULL) {
        if (c != NULL)
            free(c->base);
        free(c);
        sitr_err_set(err, SITR_ENOMEM, "cannot start the HTTP client");
        return NULL;
    }
    c->max_answer = SITR_CLIENT_MAX_ANSWER;
    size_t n = strlen(c->base);
    while (n > 0 && c->base[n - 1] == '/')
        c->base[--n] = '\0';
    return c;
}

void sitr_client_set_max_answer(sitr_client_t *c, size_t max)
{
    c->max_answer = max;
}

void sitr_client_free(sitr_client_t *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    free(c->base);
    free(c);
}

void sitr_client_resp_clear(sitr_client_resp_t *r)
{
    json_decref(r->json);
    free(r->body);
    memset(r, 0, sizeof(*r));
    r->retry_after = -1;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
    sink_t *s = ud;
    size_t n = size * nmemb;
    if (n > s->max - s->len) {
        s->too_big = 1;
        return 0; /* libcurl aborts the transfer */
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *b = realloc(s->buf, cap);
        if (b == NULL)
            return 0;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

/* Copies the value of header line "Name: value\r\n" into out when the
 * name matches; control characters are dropped (the value is printed). */
static int header_value(const char *line, size_t len, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return 0;
    size_t i = nl + 1, o = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    for (; i < len && o + 1 < outsz; i++)
        if (!iscntrl((unsigned char)line[i]))
            out[o++] = line[i];
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    return 1;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *ud)
{
    sink_t *s = ud;
    size_t n = size * nmemb;
    char ra[32];
    if (header_value(data, n, "X-Request-Id", s->resp->request_id, sizeof(s->resp->request_id)))
        return n;
    if (header_value(data, n, "Retry-After", ra, sizeof(ra))) {
        char *end;
        long v = strtol(ra, &end, 10);
        if (end != ra && *end == '\0' && v >= 0)
            s->resp->retry_after = v;
    }
    return n;
}

static void copy_str(char *out, size_t outsz, const json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(out, outsz, "%s", s != NULL ? s : "");
}

int sitr_client_call(sitr_client_t *c, const char *method, const char *path, const char *secret,
                     const char *body, sitr_client_resp_t *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->retry_after = -1;
    CURL *h = c->curl;
    curl_easy_reset(h);

    char *url = NULL;
    char *auth = NULL;
    struct curl_slist *hdrs = NULL, *tmp;
    sink_t sink = {.resp = resp, .max = c->max_answer};
    int rc = 0;

    if (asprintf(&url, "%s%s", c->base, path) < 0) {
        url = NULL;
        rc = SITR_ENOMEM;
        goto out;
    }
    if (secret != NULL && asprintf(&auth, "Authorization: Case %s", secret) < 0) {
        auth = NULL;
        rc = SITR_ENOMEM;
        goto out;
    }
    /* An empty Expect: keeps libcurl from waiting for 100-continue on
     * larger bodies; sitrd answers either way, this saves a round trip. */
    const char *fixed[] = {"Accept: application/json",
                           "Expect:", body != NULL ? "Content-Type: application/json" : NULL, auth};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (fixed[i] == NULL)
            continue;
        if ((tmp = curl_slist_append(hdrs, fixed[i])) == NULL) {
            rc = SITR_ENOMEM;
            goto out;
        }
        hdrs = tmp;
    }

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, SITR_CLIENT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, SITR_CLIENT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_answer);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "sitr/" SITR_VERSION);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &sink);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, resp->transport);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(body != NULL ? strlen(body) : 0));
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }

    CURLcode cc = curl_easy_perform(h);
    /* The handle keeps no reference to our header list after this. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    if (cc != CURLE_OK) {
        if (sink.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
            snprintf(resp->transport, sizeof(resp->transport),
                     "the server's answer is larger than %zu bytes", c->max_answer);
            rc = SITR_ETOOBIG;
        } else {
            if (resp->transport[0] == '\0')
                snprintf(resp->transport, sizeof(resp->transport), "%s", curl_easy_strerror(cc));
            rc = cc == CURLE_OPERATION_TIMEDOUT ? SITR_ETIMEOUT : SITR_EIO;
        }
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->body = sink.buf != NULL ? sink.buf : strdup("");
    sink.buf = NULL;
    if (resp->body == NULL) {
        rc = SITR_ENOMEM;
        goto out;
    }
    resp->body_len = sink.len;
    resp->json = json_loadb(resp->body, resp->body_len, JSON_REJECT_DUPLICATES, NULL);
    json_t *e = json_object_get(resp->json, "error");
    if (json_is_object(e)) {
        copy_str(resp->code, sizeof(resp->code), json_object_get(e, "code"));
        copy_str(resp->message, sizeof(resp->message), json_object_get(e, "message"));
        copy_str(resp->field, sizeof(resp->field), json_object_get(e, "field"));
    }

out:
    if (auth != NULL) {
        explicit_bzero(auth, strlen(auth));
        free(auth);
    }
    for (tmp = hdrs; tmp != NULL; tmp = tmp->next) /* the list holds its own copy */
        explicit_bzero(tmp->data, strlen(tmp->data));
    curl_slist_free_all(hdrs);
    free(url);
    free(sink.buf);
    return rc;
}
