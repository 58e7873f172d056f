/* Request-scoped bump allocator.
 *
 * Memory is handed out from chunks and released all at once by
 * sitr_arena_free.  Every arena has a byte cap so that a request cannot make
 * the process grow without bound; over the cap allocations return NULL.  A
 * request's arena (sitr_req_arena) is freed when the request ends.  Loop
 * thread only. */
#ifndef SITR_ARENA_H
#define SITR_ARENA_H

#include <stddef.h>

typedef struct sitr_arena sitr_arena_t;

/* cap: total bytes the arena may reserve (0 = 64 MiB).  NULL on OOM.
 * Caller frees with sitr_arena_free. */
sitr_arena_t *sitr_arena_new(size_t cap);
void sitr_arena_free(sitr_arena_t *a); /* NULL is fine */
/* Bytes reserved from the system so far (for tests and metrics). */
size_t sitr_arena_reserved(const sitr_arena_t *a);
void *sitr_arena_alloc(sitr_arena_t *a, size_t n); /* zeroed; NULL on OOM/cap */
char *sitr_arena_strdup(sitr_arena_t *a, const char *s);
char *sitr_arena_printf(sitr_arena_t *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Copies n bytes and appends a NUL. */
char *sitr_arena_strndup(sitr_arena_t *a, const char *s, size_t n);

#endif
