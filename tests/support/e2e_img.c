/* Made-up image hashes (see e2e_img.h).  A linear congruential generator is
 * enough: the hashes only need to differ, and to repeat from run to run. */
#include "e2e_img.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static const char hex[] = "0123456789abcdef";

void sitr_e2e_random_hex(unsigned *state, char *out, size_t digits)
{
    for (size_t i = 0; i < digits; i++) {
        *state = *state * 1103515245u + 12345u;
        out[i] = hex[(*state >> 16) & 15];
    }
    out[digits] = '\0';
}

sitr_e2e_img_t sitr_e2e_new_img(unsigned *state)
{
    sitr_e2e_img_t m;
    sitr_e2e_random_hex(state, m.pdq, 64);
    sitr_e2e_random_hex(state, m.md5, 32);
    sitr_e2e_random_hex(state, m.sha, 64);
    return m;
}

void sitr_e2e_flip_bits(const char *pdq, int d, char out[65])
{
    memcpy(out, pdq, 65);
    for (int i = 0; i < d; i++) {
        int nib = i / 4, bit = 3 - i % 4;
        int v = (int)(strchr(hex, out[nib]) - hex);
        out[nib] = hex[v ^ (1 << bit)];
    }
}

void sitr_e2e_assert_no_hash(const char *text, const sitr_e2e_img_t *m, const char *where)
{
    const char *hs[3] = {m->pdq, m->md5, m->sha};
    for (int i = 0; i < 3; i++) {
        char up[65];
        size_t n = strlen(hs[i]);
        for (size_t k = 0; k <= n; k++)
            up[k] = (char)(hs[i][k] >= 'a' && hs[i][k] <= 'f' ? hs[i][k] - 32 : hs[i][k]);
        if (strstr(text, hs[i]) || strstr(text, up))
            fail_msg("a victim hash leaked into %s", where);
    }
}
