/* Open connections per client address, for the per-address connection cap
 * (SITR_MAX_CONNECTIONS_PER_ADDRESS).
 *
 * Addresses are grouped as the rate limits group them
 * (sitr_ratelimit_address_key: IPv4 whole, IPv6 by /64).  An entry exists
 * only while its count is above zero, so memory follows the open
 * connections.  Chains are chosen with a keyed SipHash so that clients
 * cannot aim at one.  Loop thread only. */
#ifndef SITR_PEERS_H
#define SITR_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include <sitr/err.h>

#define SITR_PEERS_KEY_BYTES 16

typedef struct sitr_peers sitr_peers_t;

/* A table sized for about expected addresses (it works with more, with
 * longer chains).  libsodium must be initialised.  0, SITR_ENOMEM or
 * SITR_EINVAL.  Free with sitr_peers_free. */
SITR_MUST_CHECK int sitr_peers_new(size_t expected, sitr_peers_t **out);
void sitr_peers_free(sitr_peers_t *p);

/* The count of key's connections. */
unsigned sitr_peers_count(const sitr_peers_t *p, const uint8_t key[SITR_PEERS_KEY_BYTES]);
/* Counts one more connection for key.  0, or SITR_ENOMEM (nothing counted). */
SITR_MUST_CHECK int sitr_peers_add(sitr_peers_t *p, const uint8_t key[SITR_PEERS_KEY_BYTES]);
/* Counts one fewer (a key with no count is left alone). */
void sitr_peers_remove(sitr_peers_t *p, const uint8_t key[SITR_PEERS_KEY_BYTES]);
/* Addresses with at least one connection. */
size_t sitr_peers_addresses(const sitr_peers_t *p);

#endif
