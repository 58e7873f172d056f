/* Per-client-address rate limiting: one token bucket per address, in a
 * table of bounded size.
 *
 * Used for case creation (SITR_CASE_RATE per hour) and for failed case
 * authentications (brute-force guessing of secrets).  A bucket holds up to
 * `burst` tokens and refills continuously at per_hour / 3600 tokens a
 * second; an action costs one token.
 *
 * Addresses are grouped the way one party usually holds them: an IPv4
 * address on its own, an IPv6 address by its /64 (one home or phone gets a
 * whole /64, so per-address limits would be meaningless there).
 *
 * Memory is bounded by max_entries: when the table is full the entry
 * touched least recently is forgotten (a forgotten address starts again
 * with a full bucket, which is the price of the bound).  Table slots are
 * chosen with a keyed SipHash so that clients cannot aim at one chain.
 *
 * The clock is injected (milliseconds, monotonic, e.g. uv_now) so tests need
 * no sleeping.  Not thread-safe: owned by the loop thread. */
#ifndef SITR_RATELIMIT_H
#define SITR_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sitr/err.h>

typedef struct sitr_ratelimit sitr_ratelimit_t;

/* per_hour == 0 disables the limit (every call allows).  burst 0 counts
 * as 1.  1 <= max_entries <= 2^24.  Returns 0 or SITR_ENOMEM / SITR_EINVAL.
 * libsodium must be initialised.  Caller frees with sitr_ratelimit_free. */
SITR_MUST_CHECK int sitr_ratelimit_new(unsigned per_hour, unsigned burst, size_t max_entries,
                                       sitr_ratelimit_t **out);
void sitr_ratelimit_free(sitr_ratelimit_t *rl);

/* Spends one token of addr's bucket (addr: the peer IP as text, borrowed).
 * Returns 0 when allowed, otherwise the whole seconds (>= 1) until a token
 * will be there, for Retry-After; nothing is spent then. */
unsigned sitr_ratelimit_take(sitr_ratelimit_t *rl, const char *addr, uint64_t now_ms);

/* The same answer as sitr_ratelimit_take without spending anything. */
unsigned sitr_ratelimit_check(sitr_ratelimit_t *rl, const char *addr, uint64_t now_ms);

/* Addresses currently remembered (for tests and metrics). */
size_t sitr_ratelimit_size(const sitr_ratelimit_t *rl);

#endif
