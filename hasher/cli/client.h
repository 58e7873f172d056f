/* The HTTP client of the `sitr case` commands: one libcurl handle talking
 * JSON to sitrd's victims' API.
 *
 * TLS certificates and host names are verified (libcurl's defaults, never
 * turned off); only http and https URLs are accepted and redirects are not
 * followed; every request has a connect timeout and a total timeout;
 * answers larger than SITR_CLIENT_MAX_ANSWER bytes are refused.  The case
 * secret travels only in the Authorization header, and our copy of that
 * header is wiped after each request.  Single-threaded: a client belongs to
 * the thread that made it. */
#ifndef SITR_CLI_CLIENT_H
#define SITR_CLI_CLIENT_H

#include <stddef.h>
#include <jansson.h>
#include <sitr/err.h>
#include <sitr/err_service.h>

#define SITR_CLIENT_MAX_ANSWER         ((size_t)4 << 20)
#define SITR_CLIENT_CONNECT_TIMEOUT_MS 15000L
#define SITR_CLIENT_TIMEOUT_MS         120000L

typedef struct sitr_client sitr_client_t;

/* One answer.  status is the HTTP status, or 0 when no answer came (then
 * transport says why).  json is the parsed body when it is JSON.  For an
 * error answer, code/message/field come from its {"error":{...}} (empty
 * strings when absent).  Release with sitr_client_resp_clear. */
typedef struct sitr_client_resp {
    long status;
    json_t *json;
    char *body; /* raw body, NUL-terminated */
    size_t body_len;
    char request_id[64];
    long retry_after; /* seconds, -1 when absent */
    char code[64], message[256], field[128];
    char transport[256];
} sitr_client_resp_t;

/* Initialises libcurl for the process; call once from main before threads
 * that use it.  0 or SITR_EINTERNAL. */
SITR_MUST_CHECK int sitr_client_global_init(void);
void sitr_client_global_cleanup(void);

/* A client for base URL server (borrowed; "http://host:port" or
 * "https://...", a trailing '/' is ignored).  Returns NULL and fills err
 * when the URL is not http(s) or memory runs out. */
sitr_client_t *sitr_client_new(const char *server, sitr_err_t *err);
void sitr_client_free(sitr_client_t *c);

/* Raises or lowers the answer size cap (default SITR_CLIENT_MAX_ANSWER),
 * e.g. for the printable report page. */
void sitr_client_set_max_answer(sitr_client_t *c, size_t max);

/* Sends method (GET, POST, DELETE) to base + path.  secret (borrowed, may
 * be NULL) becomes "Authorization: Case <secret>"; body (borrowed, may be
 * NULL) is sent as application/json.  Returns 0 when an HTTP answer
 * arrived (whatever its status), or a negative code when none did
 * (SITR_ETIMEOUT, SITR_ETOOBIG for an oversized answer, SITR_EIO for a
 * network failure; resp->transport then says why).  resp is always filled
 * and must be cleared. */
SITR_MUST_CHECK int sitr_client_call(sitr_client_t *c, const char *method, const char *path,
                                     const char *secret, const char *body,
                                     sitr_client_resp_t *resp);

void sitr_client_resp_clear(sitr_client_resp_t *r);

/* The base URL in use, for messages. */
const char *sitr_client_server(const sitr_client_t *c);

#endif
