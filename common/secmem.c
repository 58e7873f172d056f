/* Wiping allocator for jansson (secmem.h).  Blocks are plain malloc blocks,
 * so a string jansson hands out (json_dumps) may still be released with
 * free(); jansson's own frees wipe the whole block first, its size known
 * from malloc_usable_size.  Any thread. */
#include <sitr/secmem.h>

#include <malloc.h>
#include <stdlib.h>

#include <jansson.h>
#include <sodium.h>

static void wiping_free(void *p)
{
    if (!p)
        return;
    sodium_memzero(p, malloc_usable_size(p));
    free(p);
}

void sitr_secmem_json_init(void)
{
    json_set_alloc_funcs(malloc, wiping_free);
}
