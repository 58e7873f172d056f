/* Output of `sitr hash` for videos (formats in output.h).
 *
 * A video is one record in text (a summary line: its frames' hashes do not
 * fit the image line) and JSONL (one object holding every frame), one row
 * per hashed frame in CSV, and Meta's own line per frame in the vpdq format,
 * byte for byte what the reference writes (sitr_video_format_line).
 *
 * Times are printed rounded to the millisecond, as the reference prints
 * them: the JSON "t" of a frame is the number its vpdq line shows, so the
 * two formats never disagree in the last digits of a float.  Runs on the
 * printing thread only. */
#include "output.h"

#include <stdlib.h>
#include <string.h>

#include <sitr/hex.h>
#include <sitr/pdq.h>

/* Significant digits for reals in video JSON: enough for the milliseconds
 * of a 4-hour video and for a frame rate such as 30000/1001, without the
 * noise of a 17-digit float. */
#define REAL_DIGITS 12

/* seconds rounded to the millisecond exactly as "%.3f" shows them. */
static double millis(double seconds)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%.3f", seconds);
    return strtod(buf, NULL);
}

static json_t *hex_array(const sitr_pdq_t *hashes, int n)
{
    json_t *a = json_array();
    for (int i = 0; a != NULL && i < n; i++) {
        char hex[SITR_PDQ_HEX_LEN + 1];
        sitr_pdq_to_hex(&hashes[i], hex);
        if (json_array_append_new(a, json_string(hex)) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

static json_t *frame_json(const sitr_video_frame_t *f, int dihedral)
{
    char hex[SITR_PDQ_HEX_LEN + 1];
    sitr_pdq_to_hex(&f->pdq.hash, hex);
    json_t *o = json_pack("{s:I, s:f, s:s, s:i}", "n", (json_int_t)f->number, "t",
                          millis(f->timestamp), "pdq", hex, "quality", f->pdq.quality);
    if (o == NULL)
        return NULL;
    int bad = 0;
    if (dihedral)
        bad |= json_object_set_new(o, "dihedral",
                                   hex_array(f->pdq.dihedral, SITR_PDQ_DIHEDRAL_COUNT)) != 0;
    if (f->has_trimmed) {
        sitr_pdq_to_hex(&f->trimmed, hex);
        bad |= json_object_set_new(
                   o, "trimmed",
                   json_pack("{s:s, s:i}", "pdq", hex, "quality", f->trimmed_quality)) != 0;
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int video_jsonl(const sitr_output_t *o, const char *path, const sitr_video_t *v)
{
    char md5[2 * SITR_MD5_BYTES + 1], sha[2 * SITR_SHA256_BYTES + 1];
    sitr_hex_encode(v->md5, SITR_MD5_BYTES, md5);
    sitr_hex_encode(v->sha256, SITR_SHA256_BYTES, sha);
    json_t *frames = json_array();
    if (frames == NULL)
        return SITR_ENOMEM;
    for (size_t i = 0; i < v->count; i++) {
        if (json_array_append_new(frames, frame_json(&v->frames[i], o->dihedral)) != 0) {
            json_decref(frames);
            return SITR_ENOMEM;
        }
    }
    json_t *jp = sitr_output_json_path(path);
    if (jp == NULL) {
        json_decref(frames);
        return SITR_ENOMEM;
    }
    /* "o" steals the references, also when json_pack fails. */
    json_t *obj =
        json_pack("{s:s, s:o, s:s, s:s, s:f, s:f, s:i, s:i, s:o}", "type", "video", "path", jp,
                  "md5", md5, "sha256", sha, "duration", millis(v->duration), "fps", v->fps,
                  "width", v->width, "height", v->height, "frames", frames);
    return sitr_output_jsonl_line(o->f, obj, REAL_DIGITS);
}

static void video_csv(const sitr_output_t *o, const char *path, const sitr_video_t *v)
{
    char md5[2 * SITR_MD5_BYTES + 1], sha[2 * SITR_SHA256_BYTES + 1], hex[SITR_PDQ_HEX_LEN + 1];
    sitr_hex_encode(v->md5, SITR_MD5_BYTES, md5);
    sitr_hex_encode(v->sha256, SITR_SHA256_BYTES, sha);
    for (size_t i = 0; i < v->count; i++) {
        const sitr_video_frame_t *f = &v->frames[i];
        sitr_output_csv_field(o->f, path);
        sitr_pdq_to_hex(&f->pdq.hash, hex);
        fprintf(o->f, ",%s,%d,%s,%s", hex, f->pdq.quality, md5, sha);
        if (o->dihedral) {
            for (int d = 0; d < SITR_PDQ_DIHEDRAL_COUNT; d++) {
                sitr_pdq_to_hex(&f->pdq.dihedral[d], hex);
                fprintf(o->f, ",%s", hex);
            }
        }
        fprintf(o->f, ",%lld,%.3f\n", (long long)f->number, f->timestamp);
    }
}

static int video_vpdq(const sitr_output_t *o, const sitr_video_t *v)
{
    char line[SITR_VIDEO_LINE_MAX];
    for (size_t i = 0; i < v->count; i++) {
        int n = sitr_video_format_line(&v->frames[i], line, sizeof(line));
        if (n < 0)
            return n;
        fwrite(line, 1, (size_t)n, o->f);
    }
    return 0;
}

int sitr_output_video(const sitr_output_t *o, const char *path, const sitr_video_t *v)
{
    int rc = 0;
    switch (o->format) {
    case SITR_OUTPUT_TEXT:
        /* Same rule as for images: the path is last on a line of its own. */
        if (strpbrk(path, "\r\n") != NULL)
            return SITR_EINVAL;
        fprintf(o->f, "video,%zu,%.3f,%s\n", v->count, v->duration, path);
        break;
    case SITR_OUTPUT_CSV:
        video_csv(o, path, v);
        break;
    case SITR_OUTPUT_JSONL:
        rc = video_jsonl(o, path, v);
        break;
    case SITR_OUTPUT_VPDQ:
        rc = video_vpdq(o, v);
        break;
    }
    int frc = sitr_output_flush(o->f);
    return rc < 0 ? rc : frc;
}

int sitr_output_video_error(const sitr_output_t *o, const char *path, int code, const char *message)
{
    if (o->format != SITR_OUTPUT_JSONL)
        return 0;
    json_t *jp = sitr_output_json_path(path);
    json_t *jm = sitr_output_json_path(message);
    if (jp == NULL || jm == NULL) {
        json_decref(jp);
        json_decref(jm);
        return SITR_ENOMEM;
    }
    json_t *obj = json_pack("{s:s, s:o, s:{s:s, s:o}}", "type", "video", "path", jp, "error",
                            "code", sitr_output_code_name(code), "message", jm);
    int rc = sitr_output_jsonl_line(o->f, obj, 0);
    int frc = sitr_output_flush(o->f);
    return rc < 0 ? rc : frc;
}
