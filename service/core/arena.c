/* Bump allocator behind sitr_req_arena().
 *
 * A singly linked list of chunks; the head chunk is the one being filled.
 * Small requests share 4 KiB chunks (grown geometrically up to 64 KiB), a
 * request larger than a quarter of the chunk size gets its own chunk so it
 * does not waste the tail of the current one.  All returned memory is zeroed
 * and 16-byte aligned, and wiped when the arena is freed.  Invariant:
 * reserved <= cap.  Loop thread only. */
#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define ALIGN       16u
#define FIRST_CHUNK 4096u
#define MAX_CHUNK   (64u * 1024u)

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} chunk_t;

struct sitr_arena {
    chunk_t *head;
    size_t reserved, cap, next_size;
};

sitr_arena_t *sitr_arena_new(size_t cap)
{
    sitr_arena_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->cap = cap ? cap : (size_t)64 << 20;
    a->next_size = FIRST_CHUNK;
    return a;
}

void sitr_arena_free(sitr_arena_t *a)
{
    if (!a)
        return;
    chunk_t *c = a->head;
    while (c) {
        chunk_t *next = c->next;
        /* Request memory holds headers (Authorization: a case secret or an
         * API key) and answers: wipe what was used before giving it back. */
        sodium_memzero(c->data, c->used);
        free(c);
        c = next;
    }
    free(a);
}

size_t sitr_arena_reserved(const sitr_arena_t *a)
{
    return a->reserved;
}

static chunk_t *new_chunk(sitr_arena_t *a, size_t size)
{
    if (size > a->cap - a->reserved)
        return NULL;
    chunk_t *c = malloc(sizeof *c + size);
    if (!c)
        return NULL;
    c->size = size;
    c->used = 0;
    a->reserved += size;
    return c;
}

void *sitr_arena_alloc(sitr_arena_t *a, size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - ALIGN)
        return NULL;
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    chunk_t *c = a->head;
    if (c && c->size - c->used >= need) {
        void *p = c->data + c->used;
        c->used += need;
        memset(p, 0, n);
        return p;
    }
    if (need > a->next_size / 4) {
        /* Big block: its own chunk, kept behind the head so the head's free
         * tail stays usable for small allocations. */
        chunk_t *big = new_chunk(a, need);
        if (!big)
            return NULL;
        big->used = need;
        if (c) {
            big->next = c->next;
            c->next = big;
        } else {
            big->next = NULL;
            a->head = big;
        }
        memset(big->data, 0, n);
        return big->data;
    }
    chunk_t *fresh = new_chunk(a, a->next_size);
    if (!fresh)
        return NULL;
    if (a->next_size < MAX_CHUNK)
        a->next_size *= 2;
    fresh->next = c;
    a->head = fresh;
    fresh->used = need;
    memset(fresh->data, 0, n);
    return fresh->data;
}

char *sitr_arena_strndup(sitr_arena_t *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *p = sitr_arena_alloc(a, n + 1);
    if (p && n)
        memcpy(p, s, n);
    return p;
}

char *sitr_arena_strdup(sitr_arena_t *a, const char *s)
{
    return sitr_arena_strndup(a, s, strlen(s));
}

char *sitr_arena_printf(sitr_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = sitr_arena_alloc(a, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
