/* Match bookkeeping for the end-to-end tests (see e2e_matches.h).  The
 * values come from the tests themselves (hex digests, fixed content ids),
 * so they are formatted into the SQL as they are. */
#include "e2e_matches.h"

#include <stdio.h>

#include "db_support.h"

long long sitr_e2e_image_id(const char *db_url, const char *md5_hex)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id FROM case_images WHERE md5 = decode('%s', 'hex')",
             md5_hex);
    return pgt_scalar(db_url, sql);
}

long long sitr_e2e_upload_id(const char *db_url, const char *platform, const char *content_id)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT u.id FROM uploads u JOIN platforms p ON p.id = u.platform_id "
             "WHERE p.name = '%s' AND u.content_id = '%s'",
             platform, content_id);
    return pgt_scalar(db_url, sql);
}

void sitr_e2e_commit_match(const char *db_url, long long image_id, long long upload_id,
                           int distance)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT sitr_matcher_commit(0, '[{\"case_image_id\":%lld,\"upload_id\":%lld,"
             "\"signal\":\"pdq\",\"distance\":%d}]'::jsonb)",
             image_id, upload_id, distance);
    PQclear(pgt_exec(db_url, sql));
}
