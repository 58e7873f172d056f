/* Appends one JSON line per answer to the contract log (see e2e_contract.h).
 * A failure to record fails loudly: a silent gap would let an undocumented
 * answer through the contract check. */
#include "e2e_contract.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *headers_json(const sitr_e2e_resp_t *r)
{
    json_t *h = json_object();
    for (int i = 0; h && i < r->nheaders; i++) {
        char name[128];
        size_t n = strlen(r->names[i]);
        if (n >= sizeof name)
            n = sizeof name - 1;
        for (size_t k = 0; k < n; k++) {
            char ch = r->names[i][k];
            name[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
        }
        name[n] = '\0';
        json_object_set_new(h, name, json_string(r->values[i]));
    }
    return h;
}

static json_t *exchange_json(const char *method, const char *target, const sitr_e2e_resp_t *r)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "method", json_string(method));
    json_object_set_new(o, "target", json_string(target));
    json_object_set_new(o, "status", json_integer(r->status));
    json_object_set_new(o, "headers", headers_json(r));
    /* Bodies are JSON, HTML, CSS or JavaScript: text.  Anything that is not
     * UTF-8 is recorded by length so the check can still see it exists. */
    json_t *body = json_stringn(r->body ? r->body : "", r->body ? r->body_len : 0);
    if (body)
        json_object_set_new(o, "body", body);
    else
        json_object_set_new(o, "body_bytes", json_integer((json_int_t)r->body_len));
    return o;
}

void sitr_e2e_contract_record(const char *method, const char *target, const sitr_e2e_resp_t *r)
{
    const char *dir = getenv("SITR_CONTRACT_LOG");
    if (!dir || !*dir)
        return;
    json_t *o = exchange_json(method, target, r);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s-%ld.jsonl", dir, program_invocation_short_name,
             (long)getpid());
    int fd = line ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
    size_t len = line ? strlen(line) : 0;
    int ok = fd >= 0;
    if (ok) {
        line[len] = '\n'; /* json_dumps leaves the NUL; overwrite it, one write */
        ok = write(fd, line, len + 1) == (ssize_t)(len + 1);
        close(fd);
    }
    free(line);
    if (!ok) {
        fprintf(stderr, "contract log: cannot record %s %s in %s: %s\n", method, target, path,
                strerror(errno));
        abort();
    }
}
