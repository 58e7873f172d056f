/* Request-scoped bump allocator.
 *
 * Memory is handed out from chunks and released all at once by
 * sitr_arena_free.  Every arena has a byte cap so that a request cannot make
 * the process grow without bound; over the cap allocations return NULL.  The
 * allocation functions themselves (alloc, strdup, printf) are declared in
 * req.h because handlers use them.  Loop thread only. */
#ifndef SITR_ARENA_H
#define SITR_ARENA_H

#include <stddef.h>

#include "req.h"

/* cap: total bytes the arena may reserve (0 = 64 MiB).  NULL on OOM.
 * Caller frees with sitr_arena_free. */
sitr_arena_t *sitr_arena_new(size_t cap);
void sitr_arena_free(sitr_arena_t *a); /* NULL is fine */
/* Bytes reserved from the system so far (for tests and metrics). */
size_t sitr_arena_reserved(const sitr_arena_t *a);
/* Copies n bytes and appends a NUL. */
char *sitr_arena_strndup(sitr_arena_t *a, const char *s, size_t n);

#endif
