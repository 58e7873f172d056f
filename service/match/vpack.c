/* The storage policy for video frames (vpack.h): which frames and which
 * variant hashes of a parsed video are stored, packed with vframes.c.
 * Frames below quality 50 are skipped before packing, so the packed list's
 * slots (the index ids' slot field) count stored frames only.  The order
 * checks cover every frame, dropped or not: a list is refused or accepted
 * as a whole, whatever the qualities.  Pure functions; any thread. */
#include "match/vpack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/hex.h>

#include "match/vframes.h"
#include "match/vid.h"

/* The mask of variants a frame keeps under the policy. */
static unsigned frame_mask(const sitr_vframe_in_t *f, sitr_vpack_role_t role, unsigned variants)
{
    if (role != SITR_VPACK_CASE)
        return 0;
    unsigned mask = f->has_dihedral ? (variants & SITR_VPACK_VARIANTS_ALL) : 0;
    if (f->has_trimmed && f->trimmed_quality >= SITR_PDQ_MIN_QUALITY && f->trimmed_quality <= 100)
        mask |= SITR_VFRAMES_TRIMMED_BIT;
    return mask;
}

int sitr_vpack(const sitr_vframe_in_t *f, size_t n, sitr_vpack_role_t role, unsigned variants,
               uint8_t **out, size_t *len, size_t *kept, size_t *bad)
{
    *out = NULL;
    *len = 0;
    *kept = 0;
    size_t need = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        int ordered = i == 0 || (f[i].n > f[i - 1].n && f[i].t >= f[i - 1].t);
        if (!ordered || !isfinite(f[i].t) || f[i].t < 0 || f[i].t > 3.0e38 || f[i].quality < 0 ||
            f[i].quality > 100) {
            if (bad)
                *bad = i;
            return SITR_EINVAL;
        }
        if (f[i].quality < SITR_PDQ_MIN_QUALITY)
            continue;
        need += sitr_vframes_record_size(frame_mask(&f[i], role, variants));
        k++;
    }
    if (k > SITR_VID_MAX_SLOTS)
        return SITR_ETOOBIG;
    if (k == 0)
        return 0;
    uint8_t *buf = malloc(need);
    if (!buf)
        return SITR_ENOMEM;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (f[i].quality < SITR_PDQ_MIN_QUALITY)
            continue;
        sitr_vframe_t r;
        memset(&r, 0, sizeof r);
        r.number = f[i].n;
        r.t = (float)f[i].t;
        r.quality = (uint8_t)f[i].quality;
        r.mask = (uint8_t)frame_mask(&f[i], role, variants);
        r.pdq = f[i].pdq;
        int nv = 0;
        for (unsigned b = 0; b < 7; b++)
            if (r.mask >> b & 1u)
                r.variants[nv++] = f[i].dihedral[b + 1];
        if (r.mask & SITR_VFRAMES_TRIMMED_BIT)
            r.variants[nv++] = f[i].trimmed;
        int w = sitr_vframes_put(buf + pos, need - pos, &r);
        if (w < 0) {
            /* Two doubles in order may round to floats out of order only
             * if decreasing, which the check above excludes; a failure here
             * is a bug of ours. */
            free(buf);
            if (bad)
                *bad = i;
            return SITR_EINVAL;
        }
        pos += (size_t)w;
    }
    *out = buf;
    *len = pos;
    *kept = k;
    return 0;
}

int sitr_vpack_hex(const sitr_vframe_in_t *f, size_t n, sitr_vpack_role_t role, unsigned variants,
                   char **hex, size_t *kept, size_t *bad)
{
    uint8_t *buf;
    size_t len;
    *hex = NULL;
    int rc = sitr_vpack(f, n, role, variants, &buf, &len, kept, bad);
    if (rc < 0 || !buf)
        return rc;
    char *s = malloc(2 * len + 1);
    if (!s) {
        free(buf);
        *kept = 0;
        return SITR_ENOMEM;
    }
    sitr_hex_encode(buf, len, s);
    free(buf);
    *hex = s;
    return 0;
}
