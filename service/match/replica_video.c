/* Videos in the replica's indexes (replica_video.h).  The catalogue entry
 * goes in first: a frame entry found by a search always has its catalogue
 * record (a search racing with the insertion may miss the newest entries,
 * as for images; it never sees an entry it cannot decode).  Removal goes
 * the other way for the same reason: entries first, then the record. */
#include "match/replica_video.h"

#include "match/vframes.h"
#include "match/vid.h"

long sitr_replica_video_add(sitr_vcat_t *cat, int64_t id, const uint8_t *frames, size_t len,
                            double duration, sitr_replica_video_entry_fn fn, void *arg)
{
    if (id < 0 || id > SITR_VID_MAX_VIDEO)
        return SITR_EINVAL;
    int rc = sitr_vcat_put(cat, id, frames, len, duration);
    if (rc < 0)
        return rc;
    size_t pos = 0;
    long n = 0;
    sitr_vframe_t f;
    for (uint32_t slot = 0; sitr_vframes_next(frames, len, &pos, &f) == 1; slot++) {
        if ((rc = fn(arg, &f.pdq, sitr_vid_frame(id, slot, 0))) < 0)
            return rc;
        n++;
        int k = 0;
        for (unsigned b = 0; b < 8; b++) {
            if (!(f.mask >> b & 1u))
                continue;
            uint64_t eid = sitr_vid_frame(id, slot, (unsigned)sitr_vframes_bit_kind(b));
            if ((rc = fn(arg, &f.variants[k++], eid)) < 0)
                return rc;
            n++;
        }
    }
    return n;
}

int sitr_replica_video_insert(void *idx, const sitr_pdq_t *hash, uint64_t id)
{
    return sitr_index_insert(idx, hash, id);
}

int sitr_replica_video_remove(sitr_index_t *idx, sitr_vcat_t *cat, int64_t id)
{
    const sitr_vcat_video_t *v = sitr_vcat_get(cat, id);
    if (!v)
        return 0;
    sitr_vcat_release(v);
    sitr_index_remove_ids(idx, sitr_vid_frame(id, 0, 0), SITR_VID_VIDEO_MASK);
    return sitr_vcat_remove(cat, id);
}
