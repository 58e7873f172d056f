/* Authentication of case owners (Case <secret>) and platforms (Bearer <key>)
 * in the server's auth hook; the contract is in auth.h.
 *
 * Invariants: secrets and keys never leave this file except as keyed
 * BLAKE2b digests (a case secret's sent as a query parameter, a platform
 * key's looked up in the replica's memory); the digests are wiped once
 * compared.  Every failed lookup spends a token of the failure budget of
 * the (client address, target) pair (the case reference tried, or the
 * presented key's digest) and one of the address's overall budget, ten
 * times larger; both are checked before the next lookup.  So guessing costs
 * the guesser time and the database nothing, and one person's mistakes
 * lock out only what they tried, not everyone behind the same address.
 *
 * Rate limits (contract in auth.h): every request of an authenticated route
 * spends a token of its client address's bucket before anything else, and a
 * platform request spends from its platform's bucket once the key is
 * verified, one token per batch item, before its handler runs.  A refused
 * request costs nothing (buckets only refill).  Runs on the loop thread;
 * database lookups are asynchronous and hold a reference on the request. */
#include "api/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sitr/hex.h>
#include <sitr/token.h>
#include <sitr/keys.h>

#include "api/hma.h"
#include "api/reply.h"
#include "api/state.h"
#include "core/log.h"
#include "db/db.h"
#include "match/replica.h"
#include "net/server.h"

typedef struct auth_ctx {
    sitr_req_t *req;
    const sitr_route_t *route;
    uint8_t digest[SITR_KEYS_DIGEST_BYTES];
    char reference[SITR_TOKEN_MAX_LEN + 1];
} auth_ctx_t;

static sitr_api_t *api_of(sitr_req_t *req)
{
    return sitr_req_server(req)->app;
}

static uint64_t now_ms(sitr_req_t *req)
{
    return uv_now(sitr_req_server(req)->loop);
}

static void reply_rate_limited(sitr_req_t *req, unsigned wait, const char *code,
                               const char *message)
{
    char v[16];
    snprintf(v, sizeof v, "%u", wait);
    sitr_req_add_header(req, "Retry-After", v);
    sitr_req_reply_error(req, 429, code, message, NULL);
}

/* What a failed authentication was aimed at: the case reference, or the
 * keyed digest of the API key presented.  Failures are counted per (client
 * address, target) and per address over all targets (state.h). */
typedef struct target {
    const void *bytes;
    size_t len;
    const char *refusal; /* the 429 message when this target's budget is spent */
} target_t;

/* Answers 429 when the client address has no failure budget left for
 * target, or none at all; returns 1 then. */
static int over_failure_budget(sitr_req_t *req, const target_t *t)
{
    sitr_api_t *api = api_of(req);
    if (!api)
        return 0;
    const char *addr = sitr_req_client_addr(req);
    const char *msg = t->refusal;
    unsigned wait =
        sitr_ratelimit_check_pair(api->auth_fail_target, addr, t->bytes, t->len, now_ms(req));
    if (!wait) {
        wait = sitr_ratelimit_check(api->auth_fail, addr, now_ms(req));
        msg = "too many failed authentications from this address; retry later";
    }
    if (!wait)
        return 0;
    api->counters.rate_limited++;
    reply_rate_limited(req, wait, "too_many_failures", msg);
    return 1;
}

static void spend_failure(sitr_req_t *req, const target_t *t)
{
    sitr_api_t *api = api_of(req);
    if (!api)
        return;
    api->counters.auth_failures++;
    const char *addr = sitr_req_client_addr(req);
    (void)sitr_ratelimit_take_pair(api->auth_fail_target, addr, t->bytes, t->len, now_ms(req));
    (void)sitr_ratelimit_take(api->auth_fail, addr, now_ms(req));
}

static const char case_refusal[] =
    "too many failed attempts for this case from this address; retry later";

static target_t case_target(const auth_ctx_t *ctx)
{
    return (target_t){ctx->reference, strlen(ctx->reference), case_refusal};
}

/* Returns the credentials after "<scheme> " in the Authorization header,
 * or NULL when the header is absent or uses another scheme. */
static const char *credentials(const sitr_req_t *req, const char *scheme)
{
    const char *h = sitr_req_header(req, "Authorization");
    if (!h)
        return NULL;
    size_t n = strlen(scheme);
    if (strncasecmp(h, scheme, n) != 0 || (h[n] != ' ' && h[n] != '\t'))
        return NULL;
    h += n;
    while (*h == ' ' || *h == '\t')
        h++;
    return h;
}

/* The password of "Authorization: Basic base64(user:password)", the form a
 * client configured with a URL like https://platform:KEY@host sends (HMA's
 * clients, docs/api-hma.md): written into out (NUL-terminated) and 0, or -1
 * when the header is absent, not Basic, not valid base64 or has no colon.
 * The user name is ignored: the key alone says who is calling. */
static int basic_password(const sitr_req_t *req, char *out, size_t cap)
{
    const char *b64 = credentials(req, "Basic");
    if (!b64)
        return -1;
    size_t len = strlen(b64);
    while (len > 0 && (b64[len - 1] == ' ' || b64[len - 1] == '\t'))
        len--;
    uint8_t plain[256];
    size_t n = 0;
    if (len == 0 || len > 4 * (sizeof plain / 3) ||
        sodium_base642bin(plain, sizeof plain, b64, len, NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    const uint8_t *colon = memchr(plain, ':', n);
    int rc = -1;
    if (colon) {
        size_t plen = n - (size_t)(colon + 1 - plain);
        if (plen < cap && !memchr(colon + 1, '\0', plen)) {
            memcpy(out, colon + 1, plen);
            out[plen] = '\0';
            rc = 0;
        }
    }
    sodium_memzero(plain, sizeof plain);
    return rc;
}

/* Calls the route's handler as the authenticated case, and answers for it
 * if it failed without answering. */
static void run_case_handler(auth_ctx_t *ctx, int64_t case_id)
{
    sitr_req_t *req = ctx->req;
    if (sitr_req_set_case(req, case_id, ctx->reference) < 0) {
        sitr_api_reply_db_error(req, SITR_ENOMEM);
        return;
    }
    int rc = ctx->route->handler(req);
    if (rc < 0)
        sitr_api_reply_db_error(req, rc);
}

static void on_case_lookup(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    (void)sqlstate;
    auth_ctx_t *ctx = arg;
    sitr_req_t *req = ctx->req;
    uint8_t stored[SITR_KEYS_DIGEST_BYTES];
    /* When there is no row, compare against a dummy so that an unknown case
     * and a wrong secret take the same path. */
    memset(stored, 0xa5, sizeof stored);
    int found = 0, withdrawn = 0;
    int64_t case_id = 0;
    if (rc == 0 && PQntuples(res) == 1) {
        const char *hex = PQgetvalue(res, 0, 1);
        found = sitr_hex_decode(hex, strlen(hex), stored, sizeof stored) == 0;
        case_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        withdrawn = PQgetvalue(res, 0, 2)[0] == 't';
    }
    int same = sodium_memcmp(stored, ctx->digest, sizeof stored) == 0;
    sodium_memzero(ctx->digest, sizeof ctx->digest);
    sodium_memzero(stored, sizeof stored);

    if (!sitr_api_db_ok(req, rc))
        goto out;
    if (!found || !same || withdrawn || case_id <= 0) {
        target_t t = case_target(ctx);
        spend_failure(req, &t);
        sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req), "case authentication failed");
        sitr_api_reply_case_not_found(req);
        goto out;
    }
    run_case_handler(ctx, case_id);
out:
    sitr_req_unref(req);
}

static int auth_case(sitr_req_t *req, const sitr_route_t *route)
{
    auth_ctx_t *ctx = sitr_arena_alloc(sitr_req_arena(req), sizeof *ctx);
    if (!ctx)
        return SITR_ENOMEM;
    ctx->req = req;
    ctx->route = route;

    const char *ref = sitr_req_param(req, "case");
    if (!ref || sitr_token_parse(SITR_TOKEN_REFERENCE, ref, strlen(ref), ctx->reference,
                                 sizeof ctx->reference) < 0) {
        sitr_req_reply_error(req, 400, "invalid_reference",
                             "this is not a case reference: check it for a mistyped character",
                             "case");
        return 0;
    }
    const char *typed = credentials(req, "Case");
    if (!typed) {
        sitr_req_add_header(req, "WWW-Authenticate", "Case");
        sitr_req_reply_error(req, 401, "case_secret_required",
                             "send the case secret: Authorization: Case <secret>", NULL);
        return 0;
    }
    char secret[SITR_TOKEN_MAX_LEN + 1];
    if (sitr_token_parse(SITR_TOKEN_SECRET, typed, strlen(typed), secret, sizeof secret) < 0) {
        /* The check symbol shows a typo without asking the database: say
         * so, it reveals nothing about any case. */
        sitr_req_reply_error(req, 400, "invalid_secret",
                             "this is not a case secret: check it for a mistyped character",
                             "Authorization");
        return 0;
    }
    target_t t = case_target(ctx);
    if (over_failure_budget(req, &t)) {
        sodium_memzero(secret, sizeof secret);
        return 0;
    }
    const sitr_server_t *srv = sitr_req_server(req);
    sitr_keys_digest(srv->cfg->digest_key, secret, ctx->digest);
    sodium_memzero(secret, sizeof secret);

    const char *params[1] = {ctx->reference};
    sitr_req_ref(req);
    int rc = sitr_db_submit(srv->db,
                            "SELECT id, encode(secret_digest, 'hex'), withdrawn_at IS NOT NULL "
                            "FROM cases WHERE reference = $1",
                            1, params, on_case_lookup, ctx);
    if (rc < 0) {
        sodium_memzero(ctx->digest, sizeof ctx->digest);
        sitr_req_unref(req);
        return rc;
    }
    return 0;
}

/* Spends one token of the client address's request budget; answers 429
 * and returns 1 when there is none. */
static int over_client_rate(sitr_req_t *req)
{
    sitr_api_t *api = api_of(req);
    if (!api)
        return 0;
    unsigned wait = sitr_ratelimit_take(api->client_rate, sitr_req_client_addr(req), now_ms(req));
    if (!wait)
        return 0;
    api->counters.rate_limited++;
    reply_rate_limited(req, wait, "rate_limited",
                       "too many requests from this address; retry later");
    return 1;
}

/* The cost of a batch body ({"items":[...]} or {"uploads":[...]}),
 * counted without parsing: one per item (an object opened at brace depth
 * 2) plus one per SITR_API_FRAMES_PER_TOKEN video frames, rounded up (the
 * objects opened at depth 4: the frames of an item's "video"; a frame's
 * "trimmed" is deeper and not counted).  Braces inside strings are skipped.
 * For a valid batch this is exact; for anything else it is some count the
 * handler will refuse anyway.  Items count at most max_items, frames at
 * most max_frames; the result is at least 1. */
static unsigned batch_cost(const sitr_req_t *req, unsigned max_items, unsigned max_frames)
{
    size_t len;
    const uint8_t *p = sitr_req_body(req, &len);
    unsigned long items = 0, frames = 0;
    long depth = 0;
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = p[i];
        if (in_string) {
            if (ch == '\\')
                i++; /* whatever is escaped cannot end the string */
            else if (ch == '"')
                in_string = 0;
        } else if (ch == '"') {
            in_string = 1;
        } else if (ch == '{') {
            items += depth == 1;
            frames += depth == 3;
            depth++;
        } else if (ch == '}') {
            depth--;
        }
    }
    if (items > max_items)
        items = max_items;
    if (frames > max_frames)
        frames = max_frames;
    unsigned long cost =
        items + (frames + SITR_API_FRAMES_PER_TOKEN - 1) / SITR_API_FRAMES_PER_TOKEN;
    return cost < 1 ? 1 : (unsigned)cost;
}

/* Spends the request's cost from its platform's bucket; answers 429 and
 * returns 1 when the platform is over its rate. */
static int over_platform_rate(sitr_req_t *req, const sitr_route_t *route)
{
    sitr_api_t *api = api_of(req);
    if (!api)
        return 0;
    const sitr_config_t *cfg = sitr_req_server(req)->cfg;
    unsigned cost = 1;
    if (route->cost == SITR_COST_ITEMS)
        cost = batch_cost(req, cfg->match_batch, cfg->max_match_frames);
    unsigned wait =
        sitr_ratelimit_take_id(api->platform_rate, sitr_req_platform_id(req), cost, now_ms(req));
    if (!wait)
        return 0;
    api->counters.platform_rate_limited++;
    /* The answer itself is logged (429); this says why, for debugging. */
    sitr_log(SITR_LOG_DEBUG, sitr_req_log_ids(req), "platform over its rate limit (cost %u)", cost);
    reply_rate_limited(req, wait, "rate_limited",
                       "too many requests for this API key; retry later");
    return 1;
}

static void reply_bearer_failure(sitr_req_t *req, const char *code, const char *message)
{
    sitr_req_add_header(req, "WWW-Authenticate", "Bearer realm=\"sitr\", error=\"invalid_token\"");
    sitr_req_reply_error(req, 401, code, message, NULL);
}

/* The platform's key is checked against this replica's in-memory set of
 * live keys (match/pkeys.h, kept current through the change log): no
 * database work, so platforms are authenticated while PostgreSQL is down
 * and a key guesser costs the database nothing.  An unknown key spends the
 * address's failure budget like a wrong case secret. */
static int auth_platform(sitr_req_t *req, const sitr_route_t *route)
{
    /* Bearer <key>, or HTTP Basic with the key as the password. */
    char basic[SITR_KEYS_API_KEY_SIZE + 8];
    const char *key = credentials(req, "Bearer");
    if (!key && basic_password(req, basic, sizeof basic) == 0)
        key = basic;
    if (!key) {
        sitr_req_add_header(req, "WWW-Authenticate", "Bearer realm=\"sitr\"");
        sitr_req_reply_error(req, 401, "api_key_required",
                             "send the platform's API key: Authorization: Bearer <key>", NULL);
        return 0;
    }
    size_t len = strlen(key);
    while (len > 0 && (key[len - 1] == ' ' || key[len - 1] == '\t'))
        len--;
    size_t plen = strlen(SITR_KEYS_API_KEY_PREFIX);
    int wellformed =
        len == SITR_KEYS_API_KEY_SIZE - 1 && strncmp(key, SITR_KEYS_API_KEY_PREFIX, plen) == 0;
    char copy[SITR_KEYS_API_KEY_SIZE];
    if (wellformed) {
        memcpy(copy, key, len);
        copy[len] = '\0';
    }
    sodium_memzero(basic, sizeof basic);
    if (!wellformed) {
        reply_bearer_failure(req, "invalid_api_key", "the API key is malformed");
        return 0;
    }
    sitr_api_t *api = api_of(req);
    const sitr_server_t *srv = sitr_req_server(req);
    uint8_t digest[SITR_KEYS_DIGEST_BYTES];
    sitr_keys_digest(srv->cfg->digest_key, copy, digest);
    sodium_memzero(copy, sizeof copy);
    /* The key's own failures are counted under its keyed digest: a client
     * stuck with a revoked key locks out that key, not its neighbours. */
    const target_t t = {digest, sizeof digest,
                        "too many failed attempts with this API key from this address; retry "
                        "later"};
    if (over_failure_budget(req, &t)) {
        sodium_memzero(digest, sizeof digest);
        return 0;
    }
    int64_t id = 0;
    char name[SITR_PKEYS_NAME_MAX + 1];
    int found = sitr_replica_find_platform(api ? api->replica : NULL, digest, &id, name);
    if (found == 0)
        spend_failure(req, &t);
    sodium_memzero(digest, sizeof digest);
    if (found < 0) {
        /* Before the initial load there is no key to check against; the
         * HMA routes say so in HMA's words (hma.h). */
        if (sitr_api_hma_is_route(route))
            return sitr_api_hma_not_ready(req, route);
        sitr_req_add_header(req, "Retry-After", "1");
        sitr_req_reply_error(req, 503, "not_ready", "the service is still loading; retry shortly",
                             NULL);
        return 0;
    }
    if (!found) {
        sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req), "platform authentication failed");
        reply_bearer_failure(req, "invalid_api_key", "the API key is unknown or revoked");
        return 0;
    }
    if (sitr_req_set_platform(req, id, name) < 0)
        return SITR_ENOMEM;
    if (over_platform_rate(req, route))
        return 0;
    return route->handler(req);
}

int sitr_auth_hook(sitr_req_t *req, const sitr_route_t *route)
{
    switch (route->auth) {
    case SITR_AUTH_NONE:
        return route->handler(req);
    case SITR_AUTH_CASE:
        if (over_client_rate(req))
            return 0;
        return auth_case(req, route);
    case SITR_AUTH_PLATFORM:
        if (over_client_rate(req))
            return 0;
        return auth_platform(req, route);
    }
    return SITR_EINTERNAL;
}
