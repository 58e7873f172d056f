/* Authentication and rate limits of the API, in the server's auth hook.
 *
 * Authentication runs in the server's auth hook (sitr_auth_hook) before the
 * route's handler:
 *  - SITR_AUTH_CASE: "Authorization: Case <secret>" for the {case} of the
 *    path.  The hook parses both tokens, looks the case up, compares keyed
 *    digests in constant time and calls the handler only for a live case
 *    whose secret matches.  A wrong secret, an unknown case and a withdrawn
 *    case get one identical answer (404 case_not_found), and each such
 *    failure spends a token of the failure budget of the (client address,
 *    case) pair and one of the address's overall budget (state.h).
 *  - SITR_AUTH_PLATFORM: "Authorization: Bearer <api key>", looked up by
 *    keyed digest in the replica's memory among platforms not revoked
 *    (match/replica.h: loaded with the indexes, reloaded on each
 *    'platform_changed' change, no database work per request); 401 with
 *    WWW-Authenticate otherwise, and the failure spends a token of the
 *    failure budget of the (client address, presented key) pair and one of
 *    the address's overall budget; 503 not_ready before the initial load.
 *    Either budget spent: 429 too_many_failures before any lookup.  The
 *    handler finds the platform in sitr_req_platform_id().
 *
 * Rate limits in the hook (429 rate_limited with Retry-After, before any
 * database work or handler): every request of an authenticated route first
 * spends one token of its client address's bucket (cfg->client_rate per
 * second), which bounds floods of bad keys or secrets cheaply; a platform
 * request, once its key is verified, spends from its platform's bucket
 * (cfg->platform_rate per second) its route's declared cost (routes.c): a
 * SITR_COST_ITEMS route (POST /v1/match, POST /v1/uploads) its number of
 * batch items (counted without parsing, at most cfg->match_batch) plus, for
 * video items and video uploads, one per SITR_API_FRAMES_PER_TOKEN frames
 * (at most cfg->max_match_frames counted), anything else one, so batching
 * cannot bypass the limit and a video costs in proportion to its index
 * searches.  POST /v1/cases (no authentication)
 * has its own per-address limit (cfg->case_rate per hour).
 *
 * The hook records who the request is (sitr_req_set_case or
 * sitr_req_set_platform, net/req.h) before calling the handler. */
#ifndef SITR_API_AUTH_H
#define SITR_API_AUTH_H

#include "net/router.h"

/* Video frames that cost one rate-limit token in a /v1/match or /v1/uploads
 * batch (a one-minute video at one frame a second: 1 + 6 tokens). */
#define SITR_API_FRAMES_PER_TOKEN 10

/* The server's auth hook (see net/router.h for the contract). */
int sitr_auth_hook(sitr_req_t *req, const sitr_route_t *route);

#endif
