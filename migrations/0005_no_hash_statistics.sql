-- sitr schema, version 5: no hash in the planner's statistics (issue 14).
--
-- ANALYZE copies sample values of every column into pg_statistic (the most
-- common values and the histogram bounds shown by pg_stats): for a hash
-- column those are victims' hashes, and they stayed readable there, in
-- pg_statistic's TOAST and in every physical backup after a withdrawal had
-- erased them from the tables, until the next ANALYZE happened to sample
-- other rows.  Hashes are only ever looked up by equality, where these
-- statistics buy nothing, so every column that holds a victim's hash, an
-- upload's hash or a keyed digest of a credential gets a statistics target
-- of 0: ANALYZE never samples it again.
--
-- A target of 0 does not delete what ANALYZE stored before (it only stops
-- refreshing it), and deleting from pg_statistic needs a superuser, which
-- the service's role is not.  Changing a column's type drops its
-- statistics, and changing it to the type it already has (bytea to bytea)
-- does not rewrite the table, so each column is "changed" to bytea.  That
-- is refused while a view reads the column, so the views that read hash
-- columns are dropped first and created again, unchanged (their latest
-- definitions: index_case_images from 0001, index_uploads and
-- index_case_videos from 0003).  All in this migration's one transaction.

DROP VIEW index_case_images;
DROP VIEW index_uploads;
DROP VIEW index_case_videos;

ALTER TABLE case_images
    ALTER COLUMN pdq SET STATISTICS 0, ALTER COLUMN pdq TYPE bytea,
    ALTER COLUMN md5 SET STATISTICS 0, ALTER COLUMN md5 TYPE bytea,
    ALTER COLUMN sha256 SET STATISTICS 0, ALTER COLUMN sha256 TYPE bytea;
ALTER TABLE case_image_variants
    ALTER COLUMN pdq SET STATISTICS 0, ALTER COLUMN pdq TYPE bytea;
ALTER TABLE case_videos
    ALTER COLUMN md5 SET STATISTICS 0, ALTER COLUMN md5 TYPE bytea,
    ALTER COLUMN sha256 SET STATISTICS 0, ALTER COLUMN sha256 TYPE bytea,
    ALTER COLUMN frames SET STATISTICS 0, ALTER COLUMN frames TYPE bytea;
ALTER TABLE uploads
    ALTER COLUMN pdq SET STATISTICS 0, ALTER COLUMN pdq TYPE bytea,
    ALTER COLUMN md5 SET STATISTICS 0, ALTER COLUMN md5 TYPE bytea,
    ALTER COLUMN sha256 SET STATISTICS 0, ALTER COLUMN sha256 TYPE bytea,
    ALTER COLUMN frames SET STATISTICS 0, ALTER COLUMN frames TYPE bytea;
ALTER TABLE cases
    ALTER COLUMN secret_digest SET STATISTICS 0, ALTER COLUMN secret_digest TYPE bytea;
ALTER TABLE platforms
    ALTER COLUMN key_digest SET STATISTICS 0, ALTER COLUMN key_digest TYPE bytea;

-- As in 0001.
CREATE VIEW index_case_images AS
SELECT i.id AS image_id, i.case_id, i.pdq, i.quality, i.md5, i.sha256,
       (SELECT array_agg(v.pdq ORDER BY v.variant) FROM case_image_variants v
         WHERE v.image_id = i.id) AS variants
  FROM case_images i JOIN cases c ON c.id = i.case_id
 WHERE i.erased_at IS NULL AND c.withdrawn_at IS NULL;

-- As in 0003.
CREATE VIEW index_uploads AS
SELECT u.id AS upload_id, u.platform_id, u.pdq, u.quality, u.md5, u.sha256, u.frames,
       u.duration
  FROM uploads u
 WHERE u.removed_at IS NULL;

-- As in 0003.
CREATE VIEW index_case_videos AS
SELECT v.id AS video_id, v.case_id, v.md5, v.sha256, v.frames, v.duration
  FROM case_videos v JOIN cases c ON c.id = v.case_id
 WHERE v.erased_at IS NULL AND c.withdrawn_at IS NULL;

-- Fresh statistics for the other columns (the planner still needs them).
ANALYZE cases, platforms, case_images, case_image_variants, case_videos, uploads;
