/* Route table, path matching and dispatch.
 *
 * Patterns are split into segments once when added.  Matching walks the
 * table (a few dozen routes; a linear scan is simpler than a trie and fast
 * enough) and prefers the first route whose segments all match; a path that
 * matches some route under another method yields 405 and the list of
 * methods for Allow.  Dispatch runs on the loop thread and holds a reference
 * on the request while the handler runs, so a handler may answer and keep
 * reading its request until it returns. */
#include "net/router.h"

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "net/url.h"

#define MAX_SEGMENTS 12

typedef struct entry {
    sitr_route_t route;
    int nseg;
    struct {
        const char *text; /* literal, or the parameter name */
        size_t len;
        int param;
    } seg[MAX_SEGMENTS];
} entry_t;

struct sitr_router {
    entry_t entries[SITR_ROUTER_MAX_ROUTES];
    size_t n;
};

sitr_router_t *sitr_router_new(void)
{
    return calloc(1, sizeof(sitr_router_t));
}

void sitr_router_free(sitr_router_t *r)
{
    free(r);
}

size_t sitr_router_count(const sitr_router_t *r)
{
    return r->n;
}

const sitr_route_t *sitr_router_get(const sitr_router_t *r, size_t index)
{
    return index >= 1 && index <= r->n ? &r->entries[index - 1].route : NULL;
}

const char *sitr_router_method_name(sitr_method_t m)
{
    switch (m) {
    case SITR_GET:
        return "GET";
    case SITR_HEAD:
        return "HEAD";
    case SITR_POST:
        return "POST";
    case SITR_PUT:
        return "PUT";
    case SITR_DELETE:
        return "DELETE";
    case SITR_OPTIONS:
        return "OPTIONS";
    default:
        return "OTHER";
    }
}

static int split_pattern(entry_t *e)
{
    const char *p = e->route.pattern;
    if (!p || p[0] != '/')
        return SITR_EINVAL;
    e->nseg = 0;
    if (strcmp(p, "/") == 0)
        return 0;
    p++;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || e->nseg == MAX_SEGMENTS)
            return SITR_EINVAL;
        int param = p[0] == '{';
        if (param && (len < 3 || p[len - 1] != '}'))
            return SITR_EINVAL;
        if (!param && memchr(p, '{', len))
            return SITR_EINVAL;
        e->seg[e->nseg].text = param ? p + 1 : p;
        e->seg[e->nseg].len = param ? len - 2 : len;
        e->seg[e->nseg].param = param;
        e->nseg++;
        if (!slash)
            return 0;
        p = slash + 1;
    }
}

int sitr_router_add(sitr_router_t *r, const sitr_route_t *routes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (r->n == SITR_ROUTER_MAX_ROUTES)
            return SITR_ETOOBIG;
        entry_t *e = &r->entries[r->n];
        memset(e, 0, sizeof *e);
        e->route = routes[i];
        if (!e->route.handler || split_pattern(e) < 0)
            return SITR_EINVAL;
        int nparams = 0;
        for (int s = 0; s < e->nseg; s++)
            nparams += e->seg[s].param;
        if (nparams > SITR_ROUTER_MAX_PARAMS)
            return SITR_EINVAL;
        for (size_t j = 0; j < r->n; j++)
            if (r->entries[j].route.method == e->route.method &&
                strcmp(r->entries[j].route.pattern, e->route.pattern) == 0)
                return SITR_EINVAL;
        r->n++;
    }
    return 0;
}

static int split_path(const char *path, const char **seg, size_t *len)
{
    int n = 0;
    if (strcmp(path, "/") == 0)
        return 0;
    const char *p = path + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t l = slash ? (size_t)(slash - p) : strlen(p);
        if (n == MAX_SEGMENTS + 1)
            return n;
        seg[n] = p;
        len[n] = l;
        n++;
        if (!slash)
            return n;
        p = slash + 1;
    }
}

static int entry_matches(const entry_t *e, int n, const char **seg, const size_t *len)
{
    if (e->nseg != n)
        return 0;
    for (int i = 0; i < n; i++) {
        if (e->seg[i].param) {
            if (len[i] == 0)
                return 0;
        } else if (e->seg[i].len != len[i] || memcmp(e->seg[i].text, seg[i], len[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

static void add_allow(char *allow, size_t cap, const char *name)
{
    if (strstr(allow, name))
        return;
    size_t n = strlen(allow);
    snprintf(allow + n, cap - n, "%s%s", n ? ", " : "", name);
}

int sitr_router_match(const sitr_router_t *r, sitr_method_t method, const char *path,
                      sitr_arena_t *arena, sitr_route_match_t *m)
{
    memset(m, 0, sizeof *m);
    const char *seg[MAX_SEGMENTS + 1];
    size_t len[MAX_SEGMENTS + 1];
    int n = path[0] == '/' ? split_path(path, seg, len) : -1;
    sitr_method_t want = method == SITR_HEAD ? SITR_GET : method;
    const entry_t *found = NULL;
    size_t found_idx = 0;
    for (size_t i = 0; i < r->n && n >= 0; i++) {
        const entry_t *e = &r->entries[i];
        if (!entry_matches(e, n, seg, len))
            continue;
        if (e->route.method == want || e->route.method == method) {
            if (!found) {
                found = e;
                found_idx = i;
            }
        } else {
            add_allow(m->allow, sizeof m->allow, sitr_router_method_name(e->route.method));
            if (e->route.method == SITR_GET)
                add_allow(m->allow, sizeof m->allow, "HEAD");
        }
    }
    if (!found) {
        m->status = m->allow[0] ? 405 : 404;
        return 0;
    }
    m->route = &found->route;
    m->index = (int)found_idx + 1;
    for (int i = 0; i < found->nseg; i++) {
        if (!found->seg[i].param)
            continue;
        char *v = sitr_arena_alloc(arena, len[i] + 1);
        char *name = sitr_arena_strndup(arena, found->seg[i].text, found->seg[i].len);
        if (!v || !name)
            return SITR_ENOMEM;
        if (sitr_url_decode(seg[i], len[i], v, 0) < 0)
            return SITR_EINVAL;
        m->names[m->nparams] = name;
        m->values[m->nparams] = v;
        m->nparams++;
    }
    return 0;
}
