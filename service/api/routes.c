/* The one route table of sitrd: every endpoint is a row (method, path,
 * authentication, cost against the platform's rate limit, handler, body
 * cap).  Reading this table is knowing the whole HTTP surface; adding an
 * endpoint is adding a row (STYLE.md "Adding an endpoint").  The order is
 * the order of the "route" label in /metrics.  Loop thread, at start-up. */
#include "api/routes.h"

#include "api/cases.h"
#include "api/health.h"
#include "api/hma.h"
#include "api/match.h"
#include "api/report.h"
#include "api/takedowns.h"
#include "api/uploads.h"
#include "api/web.h"

/* Body caps that depend on the configuration. */
typedef enum body_cap {
    CAP_SMALL = 0, /* 4 KiB: no body expected */
    CAP_HEALTH,    /* 1 KiB */
    CAP_CASE,      /* images and videos: the server's whole body limit */
    CAP_MATCH,     /* a /v1/match batch of up to cfg->match_batch items */
    CAP_UPLOADS,   /* a /v1/uploads batch of up to cfg->match_batch uploads */
    CAP_ANSWER,    /* 16 KiB: a takedown answer with its note */
    CAP_COMPARE    /* 256 KiB: two vPDQ signals of up to 1000 frames each, per type */
} body_cap_t;

typedef struct row {
    sitr_method_t method;
    const char *path;
    sitr_auth_kind_t auth;
    sitr_route_cost_t cost;
    sitr_handler_fn handler;
    body_cap_t cap;
} row_t;

static const row_t rows[] = {
    /* operations */
    {SITR_GET, "/healthz", SITR_AUTH_NONE, SITR_COST_ONE, sitr_api_healthz, CAP_HEALTH},
    {SITR_GET, "/readyz", SITR_AUTH_NONE, SITR_COST_ONE, sitr_api_readyz, CAP_HEALTH},
    {SITR_GET, "/metrics", SITR_AUTH_NONE, SITR_COST_ONE, sitr_api_metrics, CAP_HEALTH},
    /* victims */
    {SITR_POST, "/v1/cases", SITR_AUTH_NONE, SITR_COST_ONE, sitr_api_cases_create, CAP_CASE},
    {SITR_GET, "/v1/cases/{case}", SITR_AUTH_CASE, SITR_COST_ONE, sitr_api_cases_get, CAP_SMALL},
    {SITR_POST, "/v1/cases/{case}/images", SITR_AUTH_CASE, SITR_COST_ONE, sitr_api_cases_add_images,
     CAP_CASE},
    {SITR_DELETE, "/v1/cases/{case}", SITR_AUTH_CASE, SITR_COST_ONE, sitr_api_cases_withdraw,
     CAP_SMALL},
    /* platforms */
    {SITR_POST, "/v1/match", SITR_AUTH_PLATFORM, SITR_COST_ITEMS, sitr_api_match, CAP_MATCH},
    {SITR_POST, "/v1/uploads", SITR_AUTH_PLATFORM, SITR_COST_ITEMS, sitr_api_uploads_report,
     CAP_UPLOADS},
    {SITR_DELETE, "/v1/uploads/{id}", SITR_AUTH_PLATFORM, SITR_COST_ONE, sitr_api_uploads_remove,
     CAP_SMALL},
    {SITR_GET, "/v1/takedowns", SITR_AUTH_PLATFORM, SITR_COST_ONE, sitr_api_takedowns_list,
     CAP_SMALL},
    {SITR_POST, "/v1/takedowns/{id}", SITR_AUTH_PLATFORM, SITR_COST_ONE, sitr_api_takedowns_answer,
     CAP_ANSWER},
    /* platforms, in the words of Meta's HMA 2.x (docs/api-hma.md); a vPDQ
     * lookup spends one more token per 10 frames in its handler; POST
     * /m/lookup (a file upload) is refused without reading it */
    {SITR_GET, "/m/lookup", SITR_AUTH_PLATFORM, SITR_COST_ONE, sitr_api_hma_lookup, CAP_SMALL},
    {SITR_GET, "/m/raw_lookup", SITR_AUTH_PLATFORM, SITR_COST_ONE, sitr_api_hma_raw_lookup,
     CAP_SMALL},
    {SITR_GET, "/m/index/status", SITR_AUTH_PLATFORM, SITR_COST_ONE, sitr_api_hma_index_status,
     CAP_SMALL},
    {SITR_POST, "/m/compare", SITR_AUTH_PLATFORM, SITR_COST_ONE, sitr_api_hma_compare, CAP_COMPARE},
    {SITR_POST, "/m/lookup", SITR_AUTH_NONE, SITR_COST_ONE, sitr_api_hma_lookup_post, CAP_SMALL},
    /* the victims' evidence report and web page */
    {SITR_GET, "/v1/cases/{case}/report", SITR_AUTH_CASE, SITR_COST_ONE, sitr_api_cases_report,
     CAP_SMALL},
    {SITR_GET, "/", SITR_AUTH_NONE, SITR_COST_ONE, sitr_api_web_index, CAP_SMALL},
    {SITR_GET, "/static/{file}", SITR_AUTH_NONE, SITR_COST_ONE, sitr_api_web_static, CAP_SMALL},
    {SITR_GET, "/favicon.ico", SITR_AUTH_NONE, SITR_COST_ONE, sitr_api_web_favicon, CAP_SMALL},
    {SITR_GET, "/verify", SITR_AUTH_NONE, SITR_COST_ONE, sitr_api_web_verify, CAP_SMALL},
};

#define NROWS (sizeof rows / sizeof rows[0])

static size_t body_cap(body_cap_t cap, const sitr_config_t *cfg)
{
    switch (cap) {
    case CAP_HEALTH:
        return 1024;
    case CAP_CASE:
        /* A case video is up to a few MB of hashes (a 10-minute video at 5
         * frames a second with its variants: about 2.2 MB); the images and
         * videos validators bound the work inside it. */
        return 0;
    case CAP_MATCH:
        /* A full image item with generous white space is under 256 bytes,
         * a video frame with its trimmed hash too; the server clamps it to
         * its own body limit. */
        return (size_t)cfg->match_batch * 256 + (size_t)cfg->max_match_frames * 256 + 4096;
    case CAP_UPLOADS:
        /* A full upload (id, URL at their caps, three hashes) is under 3 KiB,
         * plus its video's frames. */
        return (size_t)cfg->match_batch * 3072 + (size_t)cfg->max_match_frames * 256 + 4096;
    case CAP_ANSWER:
        return 16384;
    case CAP_COMPARE:
        return 256 * 1024;
    case CAP_SMALL:
        break;
    }
    return 4096;
}

/* The route that refuses content (an HMA file upload) refuses it in the
 * same words when it is too large to read; every other route answers the
 * generic 413. */
static int oversize(sitr_req_t *req, const sitr_route_t *route)
{
    if (route->handler != sitr_api_hma_lookup_post)
        return 0;
    return sitr_api_hma_lookup_post(req) == 0;
}

int sitr_api_add_routes(sitr_server_t *srv)
{
    sitr_route_t routes[NROWS];
    for (size_t i = 0; i < NROWS; i++)
        routes[i] = (sitr_route_t){.method = rows[i].method,
                                   .pattern = rows[i].path,
                                   .auth = rows[i].auth,
                                   .cost = rows[i].cost,
                                   .handler = rows[i].handler,
                                   .body_cap = body_cap(rows[i].cap, srv->cfg)};
    srv->oversize_hook = oversize;
    return sitr_server_add_routes(srv, routes, NROWS);
}
