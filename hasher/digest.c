/* MD5 and SHA-256 of a byte buffer, through GLib's GChecksum (GLib is
 * already linked through libvips, so no second crypto library is needed).
 * Stateless and safe from any thread: every call owns its own GChecksum.
 * MD5 is here only because partners exchange MD5 lists; it is never used
 * for anything security-relevant. */
#include <sitr/image.h>

#include <assert.h>
#include <glib.h>

static void digest(GChecksumType type, const void *data, size_t len, uint8_t *out, gsize want)
{
    GChecksum *ck = g_checksum_new(type);
    /* g_checksum_new only fails for an unknown type, a bug of ours. */
    assert(ck != NULL);
    const guchar *p = data;
    /* g_checksum_update takes a gssize: feed huge buffers in slices. */
    while (len > 0) {
        size_t n = len > ((size_t)1 << 30) ? ((size_t)1 << 30) : len;
        g_checksum_update(ck, p, (gssize)n);
        p += n;
        len -= n;
    }
    gsize got = want;
    g_checksum_get_digest(ck, out, &got);
    assert(got == want);
    g_checksum_free(ck);
}

void sitr_digest_md5(const void *data, size_t len, uint8_t out[SITR_MD5_BYTES])
{
    digest(G_CHECKSUM_MD5, data, len, out, SITR_MD5_BYTES);
}

void sitr_digest_sha256(const void *data, size_t len, uint8_t out[SITR_SHA256_BYTES])
{
    digest(G_CHECKSUM_SHA256, data, len, out, SITR_SHA256_BYTES);
}
