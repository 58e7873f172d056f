/* Packed video frames (vframes.h): writing, reading and validating the one
 * binary form of a video's frame hashes.  Everything here is bounds-checked
 * against the buffer length because the bytes come from the database or
 * from a packer fed by hostile JSON; nothing is trusted to be well formed.
 * Pure functions; any thread. */
#include "vframes.h"

#include <math.h>
#include <string.h>

size_t sitr_vframes_record_size(unsigned mask)
{
    return SITR_VFRAMES_MIN_RECORD + (size_t)__builtin_popcount(mask & 0xffu) * SITR_PDQ_BYTES;
}

int sitr_vframes_bit_kind(unsigned bit)
{
    return bit == 7 ? 8 : (int)bit + 1;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int storable_time(float t)
{
    return isfinite(t) && t >= 0.0f;
}

int sitr_vframes_put(uint8_t *buf, size_t cap, const sitr_vframe_t *f)
{
    size_t need = sitr_vframes_record_size(f->mask);
    if (need > cap || f->quality < SITR_PDQ_MIN_QUALITY || f->quality > 100 || !storable_time(f->t))
        return SITR_EINVAL;
    uint32_t tbits;
    memcpy(&tbits, &f->t, sizeof tbits);
    put_be32(buf, f->number);
    put_be32(buf + 4, tbits);
    buf[8] = f->quality;
    buf[9] = f->mask;
    memcpy(buf + SITR_VFRAMES_HEAD, f->pdq.b, SITR_PDQ_BYTES);
    int nv = __builtin_popcount(f->mask);
    for (int i = 0; i < nv; i++)
        memcpy(buf + SITR_VFRAMES_MIN_RECORD + (size_t)i * SITR_PDQ_BYTES, f->variants[i].b,
               SITR_PDQ_BYTES);
    return (int)need;
}

int sitr_vframes_next(const uint8_t *buf, size_t len, size_t *pos, sitr_vframe_t *out)
{
    if (*pos == len)
        return 0;
    if (*pos > len || len - *pos < SITR_VFRAMES_MIN_RECORD)
        return SITR_EINVAL;
    const uint8_t *p = buf + *pos;
    size_t need = sitr_vframes_record_size(p[9]);
    if (len - *pos < need)
        return SITR_EINVAL;
    uint32_t tbits = get_be32(p + 4);
    out->number = get_be32(p);
    memcpy(&out->t, &tbits, sizeof out->t);
    out->quality = p[8];
    out->mask = p[9];
    memcpy(out->pdq.b, p + SITR_VFRAMES_HEAD, SITR_PDQ_BYTES);
    int nv = __builtin_popcount(out->mask);
    for (int i = 0; i < nv; i++)
        memcpy(out->variants[i].b, p + SITR_VFRAMES_MIN_RECORD + (size_t)i * SITR_PDQ_BYTES,
               SITR_PDQ_BYTES);
    *pos += need;
    return 1;
}

long sitr_vframes_validate(const uint8_t *buf, size_t len)
{
    size_t pos = 0;
    long n = 0;
    sitr_vframe_t f, prev;
    int rc;
    while ((rc = sitr_vframes_next(buf, len, &pos, &f)) == 1) {
        if (f.quality < SITR_PDQ_MIN_QUALITY || f.quality > 100 || !storable_time(f.t))
            return SITR_EINVAL;
        if (n > 0 && (f.number <= prev.number || f.t < prev.t))
            return SITR_EINVAL;
        prev = f;
        n++;
    }
    if (rc < 0 || n == 0)
        return SITR_EINVAL;
    return n;
}
