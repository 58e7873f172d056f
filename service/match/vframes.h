/* Packed video frames: the one binary form of a video's frame hashes in the
 * database (case_videos.frames, uploads.frames), the change log and the
 * replica's memory.  Layout of one record (migrations/0003_videos.sql), all
 * integers big-endian:
 *
 *   u32 number | f32 time | u8 quality | u8 mask | pdq[32] | pdq[32] x popcount(mask)
 *
 * mask bit i (0..6) = dihedral variant i+1 (SITR_PDQ_ROT90 .. SITR_PDQ_FLIPMINUS1),
 * bit 7 = the frame with its uniform borders trimmed.  Variant hashes follow
 * in bit order.  A valid list has at least one record, frame numbers
 * strictly increasing, finite non-negative non-decreasing times and every
 * quality >= SITR_PDQ_MIN_QUALITY (frames below it are never stored).
 *
 * Pure functions, no allocation; any thread. */
#ifndef SITR_VFRAMES_H
#define SITR_VFRAMES_H

#include <stddef.h>
#include <stdint.h>

#include <sitr/err.h>
#include <sitr/pdq.h>

#define SITR_VFRAMES_HEAD        10 /* number, time, quality, mask */
#define SITR_VFRAMES_MIN_RECORD  (SITR_VFRAMES_HEAD + SITR_PDQ_BYTES) /* 42 bytes */
#define SITR_VFRAMES_MAX_RECORD  (SITR_VFRAMES_MIN_RECORD + 8 * SITR_PDQ_BYTES)
#define SITR_VFRAMES_TRIMMED_BIT 0x80u
#define SITR_VFRAMES_FLIPX_BIT   (1u << (SITR_PDQ_FLIPX - 1))

/* One frame, unpacked. */
typedef struct sitr_vframe {
    uint32_t number; /* position among the decoded frames */
    float t;         /* seconds */
    uint8_t quality; /* >= 50 */
    uint8_t mask;    /* which variants follow */
    sitr_pdq_t pdq;
    sitr_pdq_t variants[8]; /* popcount(mask) used, in bit order */
} sitr_vframe_t;

/* Bytes of one record with this mask. */
size_t sitr_vframes_record_size(unsigned mask);

/* The variant kind of mask bit `bit` (0..7): SITR_PDQ_ROT90.. for 0..6, 8
 * (the trimmed-border hash, SITR_VMATCH_TRIMMED) for 7. */
int sitr_vframes_bit_kind(unsigned bit);

/* Writes f as one record at buf[0..cap).  Returns the bytes written, or
 * SITR_EINVAL when cap is too small or f is not storable (quality < 50,
 * time not finite or negative). */
int sitr_vframes_put(uint8_t *buf, size_t cap, const sitr_vframe_t *f);

/* Reads the record at buf[*pos] into out and advances *pos.  Returns 1, 0 at
 * the end (*pos == len), or SITR_EINVAL for a truncated record.  Checks the
 * record alone; sitr_vframes_validate checks the list. */
int sitr_vframes_next(const uint8_t *buf, size_t len, size_t *pos, sitr_vframe_t *out);

/* Checks a whole list (see the top of this file).  Returns the number of
 * records (>= 1), or SITR_EINVAL. */
long sitr_vframes_validate(const uint8_t *buf, size_t len);

#endif
