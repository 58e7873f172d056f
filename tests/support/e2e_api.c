/* The JSON API calls of the end-to-end tests (see e2e_api.h).  Failures go
 * through cmocka's fail_msg, so these run only inside a cmocka test. */
#include "e2e_api.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

void sitr_e2e_call(const sitr_e2e_server_t *s, const char *method, const char *path,
                   const char *auth, const char *extra, const char *body, sitr_e2e_resp_t *r)
{
    char headers[1024] = "";
    size_t o = 0;
    if (auth && strncmp(auth, "Case ", 5) == 0)
        o += (size_t)snprintf(headers + o, sizeof headers - o, "Authorization: %s\r\n", auth);
    else if (auth)
        o +=
            (size_t)snprintf(headers + o, sizeof headers - o, "Authorization: Bearer %s\r\n", auth);
    if (body)
        o +=
            (size_t)snprintf(headers + o, sizeof headers - o, "Content-Type: application/json\r\n");
    if (extra)
        snprintf(headers + o, sizeof headers - o, "%s", extra);
    if (sitr_e2e_request(s, method, path, headers, body, r) != 0)
        fail_msg("%s %s: no answer", method, path);
    assert_non_null(sitr_e2e_header(r, "X-Request-Id"));
}

json_t *sitr_e2e_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("not JSON: %s", text);
    return j;
}

json_t *sitr_e2e_call_json(const sitr_e2e_server_t *s, const char *method, const char *path,
                           const char *auth, const char *body, int status)
{
    sitr_e2e_resp_t r;
    sitr_e2e_call(s, method, path, auth, NULL, body, &r);
    if (r.status != status)
        fail_msg("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body);
    json_t *j = sitr_e2e_json(r.body);
    sitr_e2e_resp_free(&r);
    return j;
}

void sitr_e2e_expect_error(const sitr_e2e_server_t *s, const char *method, const char *path,
                           const char *auth, const char *body, int status, const char *code,
                           const char *field)
{
    json_t *j = sitr_e2e_call_json(s, method, path, auth, body, status);
    json_t *e = json_object_get(j, "error");
    assert_non_null(e);
    const char *got = json_string_value(json_object_get(e, "code"));
    if (!got || strcmp(got, code) != 0)
        fail_msg("%s %s: code %s, want %s", method, path, got ? got : "(none)", code);
    if (field)
        assert_string_equal(json_string_value(json_object_get(e, "field")), field);
    json_decref(j);
}
