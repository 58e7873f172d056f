/* Rate limiting with token buckets: one bucket per client address, or per
 * integer identity (a platform id), in a table of bounded size.
 *
 * Used for case creation (SITR_CASE_RATE per hour), failed case and
 * platform authentications (brute-force guessing), every authenticated /v1
 * request per client address (SITR_CLIENT_RATE) and the platforms' requests
 * per platform (SITR_PLATFORM_RATE).  A bucket holds up to `burst` tokens
 * and refills continuously at per_hour / 3600 tokens a second; an action
 * costs one token, or `cost` tokens with the _n / _id calls.
 *
 * Costs larger than the burst: such an action is allowed only when the
 * bucket is full, and it leaves the bucket in debt (below zero) by the
 * excess, so the actions after it wait until the debt is repaid.  Splitting
 * work into large or small requests therefore never changes the long-run
 * rate, and a large request is never refused forever.
 *
 * One limiter should be used with one kind of key (addresses, address and
 * target pairs, or ids): the kinds share the table and are not told apart.
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
/* The same with a rate per second (0 disables; at most
 * SITR_RATELIMIT_MAX_PER_SECOND, else SITR_EINVAL). */
#define SITR_RATELIMIT_MAX_PER_SECOND 1000000u
SITR_MUST_CHECK int sitr_ratelimit_new_per_second(unsigned per_second, unsigned burst,
                                                  size_t max_entries, sitr_ratelimit_t **out);
void sitr_ratelimit_free(sitr_ratelimit_t *rl);

/* Spends one token of addr's bucket (addr: the peer IP as text, borrowed).
 * Returns 0 when allowed, otherwise the whole seconds (>= 1) until a token
 * will be there, for Retry-After; nothing is spent then. */
unsigned sitr_ratelimit_take(sitr_ratelimit_t *rl, const char *addr, uint64_t now_ms);

/* The same answer as sitr_ratelimit_take without spending anything. */
unsigned sitr_ratelimit_check(sitr_ratelimit_t *rl, const char *addr, uint64_t now_ms);

/* Spends cost tokens (0 counts as 1) of addr's bucket; see above for costs
 * beyond the burst.  Same return as sitr_ratelimit_take. */
unsigned sitr_ratelimit_take_n(sitr_ratelimit_t *rl, const char *addr, unsigned cost,
                               uint64_t now_ms);

/* The same for a (client address, target) pair: target is len bytes naming
 * what the client tried (a case reference, the keyed digest of a presented
 * credential); the address is grouped as above.  The pair is remembered as
 * a 16-byte BLAKE2b of both, never the target itself. */
unsigned sitr_ratelimit_take_pair(sitr_ratelimit_t *rl, const char *addr, const void *target,
                                  size_t len, uint64_t now_ms);
unsigned sitr_ratelimit_check_pair(sitr_ratelimit_t *rl, const char *addr, const void *target,
                                   size_t len, uint64_t now_ms);

/* The same for an integer identity instead of an address (a platform id). */
unsigned sitr_ratelimit_take_id(sitr_ratelimit_t *rl, int64_t id, unsigned cost, uint64_t now_ms);
unsigned sitr_ratelimit_check_id(sitr_ratelimit_t *rl, int64_t id, unsigned cost, uint64_t now_ms);

/* The 16-byte key addresses are grouped by (see above): an IPv4 address
 * whole, an IPv6 address by its /64.  Also used for per-address connection
 * counts (net/peers.h), so both group alike. */
void sitr_ratelimit_address_key(const char *addr, uint8_t key[16]);

/* Addresses currently remembered (for tests and metrics). */
size_t sitr_ratelimit_size(const sitr_ratelimit_t *rl);

#endif
