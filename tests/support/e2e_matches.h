/* The database side of a match, for end-to-end tests that need a takedown
 * without waiting for the real matcher: look up a case image's and an
 * upload's ids, and commit a match exactly as the matcher does, through
 * sitr_matcher_commit.  Synchronous libpq (test_db_support); each call
 * fails the running test when its query does. */
#ifndef SITR_E2E_MATCHES_H
#define SITR_E2E_MATCHES_H

/* The id of the case image whose MD5 is md5_hex. */
long long sitr_e2e_image_id(const char *db_url, const char *md5_hex);
/* The id of the upload content_id reported by the named platform. */
long long sitr_e2e_upload_id(const char *db_url, const char *platform, const char *content_id);
/* What the matcher would commit for (image, upload) at that PDQ distance:
 * one takedown.  Progress argument 0 leaves the real matcher's progress
 * alone. */
void sitr_e2e_commit_match(const char *db_url, long long image_id, long long upload_id,
                           int distance);

#endif
