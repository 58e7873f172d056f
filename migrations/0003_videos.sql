-- sitr schema, version 3: videos (issue 9).
--
-- A case can hold videos beside images; platforms report video uploads and
-- match video queries.  A video is its frames' PDQ hashes (Meta's vPDQ:
-- PDQ of frames at full resolution, see shared/testdata/vpdq/SPEC.md) plus
-- the file's MD5 and SHA-256.
--
-- Frames are stored PACKED, one bytea per video, not one row per frame: a
-- video's frames are always written, loaded, matched and erased together,
-- a ten-minute video has hundreds to thousands of them, and the replicas
-- bulk-load them with binary COPY.  The service packs and validates them
-- (service/match/vframes.c); this file only checks the length.  Layout of
-- one frame record, all integers big-endian:
--
--   u32  number    the frame's position among the decoded frames (0-based)
--   f32  time      seconds (IEEE 754 binary32 bits)
--   u8   quality   PDQ quality, >= 50 (lower-quality frames are not stored)
--   u8   mask      which variant hashes follow: bit i (0..6) = dihedral
--                  variant i+1 (rot90, rot180, rot270, flipx, flipy,
--                  flip+1, flip-1, sitr/pdq.h order); bit 7 = the frame
--                  with uniform borders trimmed (letterbox/pillarbox)
--   32 B pdq       the frame's PDQ
--   32 B x popcount(mask)  the variant hashes, in bit order
--
-- Frames appear in increasing number.  Case videos keep the variants the
-- service chose to index; upload frames carry none (mask 0).
--
-- Erasure: withdrawal nulls frames, md5, sha256 and duration in the same
-- transaction (the row stays: matches and takedowns point at it, and it
-- then says only "a video existed").

CREATE TABLE case_videos (
    id          bigserial PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases (id),
    md5         bytea CHECK (octet_length(md5) = 16),
    sha256      bytea CHECK (octet_length(sha256) = 32),
    duration    real CHECK (duration >= 0),
    frame_count integer CHECK (frame_count >= 0),
    frames      bytea CHECK (octet_length(frames) >= 42),
    created_at  timestamptz NOT NULL DEFAULT now(),
    erased_at   timestamptz,
    CHECK (erased_at IS NOT NULL OR frames IS NOT NULL OR md5 IS NOT NULL OR sha256 IS NOT NULL),
    CHECK (erased_at IS NULL OR (frames IS NULL AND md5 IS NULL AND sha256 IS NULL
                                 AND duration IS NULL AND frame_count IS NULL)),
    CHECK ((frames IS NULL) = (frame_count IS NULL))
);
CREATE INDEX case_videos_case ON case_videos (case_id);
CREATE INDEX case_videos_md5 ON case_videos (md5) WHERE md5 IS NOT NULL;
CREATE INDEX case_videos_sha256 ON case_videos (sha256) WHERE sha256 IS NOT NULL;

-- Video uploads: frames (mask 0) instead of a PDQ.  An upload is an image
-- (pdq) or a video (frames), never both.
ALTER TABLE uploads ADD COLUMN frames bytea CHECK (octet_length(frames) >= 42);
ALTER TABLE uploads ADD COLUMN frame_count integer CHECK (frame_count >= 0);
ALTER TABLE uploads ADD COLUMN duration real CHECK (duration >= 0);
-- What the upload was, kept after removal (when its frames are erased) so
-- that the report still says "video".
ALTER TABLE uploads ADD COLUMN is_video boolean NOT NULL DEFAULT false;
ALTER TABLE uploads DROP CONSTRAINT uploads_check1;
ALTER TABLE uploads DROP CONSTRAINT uploads_check2;
ALTER TABLE uploads ADD CONSTRAINT uploads_has_hash
    CHECK (removed_at IS NOT NULL OR pdq IS NOT NULL OR frames IS NOT NULL
           OR md5 IS NOT NULL OR sha256 IS NOT NULL);
ALTER TABLE uploads ADD CONSTRAINT uploads_removed_no_hash
    CHECK (removed_at IS NULL OR (pdq IS NULL AND frames IS NULL AND md5 IS NULL
                                  AND sha256 IS NULL));
ALTER TABLE uploads ADD CONSTRAINT uploads_image_or_video
    CHECK (pdq IS NULL OR frames IS NULL);
ALTER TABLE uploads ADD CONSTRAINT uploads_frames_counted
    CHECK ((frames IS NULL) = (frame_count IS NULL));

-- A match names a case image OR a case video.  Video signals:
--   vpdq_copy     Meta's rule: >= 80 % of the query's frames within 31
--   vpdq_excerpt  a run of frames matching in order with a consistent offset
--   video_frame   a still: an image within 31 of a video frame (either way)
-- coverage: share of the case video (0..1) the upload covers; run_seconds:
-- the longest aligned run, in the upload's time.  No hash, no timestamp
-- list.
ALTER TABLE matches ALTER COLUMN case_image_id DROP NOT NULL;
ALTER TABLE matches ADD COLUMN case_video_id bigint REFERENCES case_videos (id);
ALTER TABLE matches ADD COLUMN coverage real CHECK (coverage BETWEEN 0 AND 1);
ALTER TABLE matches ADD COLUMN run_seconds real CHECK (run_seconds >= 0);
ALTER TABLE matches ADD CONSTRAINT matches_one_target
    CHECK (num_nonnulls(case_image_id, case_video_id) = 1);
ALTER TABLE matches ADD CONSTRAINT matches_video_upload UNIQUE (case_video_id, upload_id);
ALTER TABLE matches DROP CONSTRAINT matches_signal_check;
ALTER TABLE matches ADD CONSTRAINT matches_signal_check
    CHECK (signal IN ('pdq', 'md5', 'sha256', 'vpdq_copy', 'vpdq_excerpt', 'video_frame'));
CREATE INDEX matches_case_video ON matches (case_video_id) WHERE case_video_id IS NOT NULL;

ALTER TABLE takedowns DROP CONSTRAINT takedowns_signal_check;
ALTER TABLE takedowns ADD CONSTRAINT takedowns_signal_check
    CHECK (signal IN ('pdq', 'md5', 'sha256', 'vpdq_copy', 'vpdq_excerpt', 'video_frame'));
ALTER TABLE takedowns ADD COLUMN coverage real CHECK (coverage BETWEEN 0 AND 1);
ALTER TABLE takedowns ADD COLUMN run_seconds real CHECK (run_seconds >= 0);

ALTER TABLE case_events DROP CONSTRAINT case_events_kind_check;
ALTER TABLE case_events ADD CONSTRAINT case_events_kind_check CHECK (kind IN (
    'case_created', 'images_added', 'videos_added', 'match_found', 'upload_blocked',
    'takedown_requested', 'takedown_removed', 'takedown_rejected', 'takedown_not_found',
    'takedown_cancelled', 'case_withdrawn'));

ALTER TABLE changes DROP CONSTRAINT changes_kind_check;
ALTER TABLE changes ADD CONSTRAINT changes_kind_check CHECK (kind IN (
    'case_image_added', 'case_image_removed', 'case_video_added', 'case_video_removed',
    'case_withdrawn', 'upload_added', 'upload_removed', 'takedown_created', 'takedown_updated',
    'platform_changed'));

-- Every match of a case, image or video, for the status and the report.
CREATE VIEW case_matches AS
SELECT m.id, i.case_id, m.upload_id, m.signal, m.distance, m.coverage, m.run_seconds,
       m.created_at, 'image'::text AS target
  FROM matches m JOIN case_images i ON i.id = m.case_image_id
UNION ALL
SELECT m.id, v.case_id, m.upload_id, m.signal, m.distance, m.coverage, m.run_seconds,
       m.created_at, 'video'::text AS target
  FROM matches m JOIN case_videos v ON v.id = m.case_video_id;

------------------------------------------------------------------------------
-- Victims' side
------------------------------------------------------------------------------

-- Decodes a packed frame list given as hex and checks that its length is
-- whole records: the service validates every record first, this is the
-- last line of defence.  Returns the frames and their count.
CREATE FUNCTION sitr_frames(p_hex text, OUT frames bytea, OUT frame_count int)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_pos  int := 0;
    v_len  int;
    v_mask int;
BEGIN
    frame_count := 0;
    IF p_hex IS NULL OR p_hex !~ '^([0-9a-f][0-9a-f])+$' THEN
        RAISE EXCEPTION 'malformed frames' USING ERRCODE = '22023';
    END IF;
    frames := decode(p_hex, 'hex');
    v_len := octet_length(frames);
    WHILE v_pos < v_len LOOP
        IF v_pos + 42 > v_len THEN
            RAISE EXCEPTION 'malformed frames' USING ERRCODE = '22023';
        END IF;
        IF get_byte(frames, v_pos + 8) < 50 THEN
            RAISE EXCEPTION 'frame quality below 50' USING ERRCODE = '22023';
        END IF;
        v_mask := get_byte(frames, v_pos + 9);
        v_pos := v_pos + 42 + 32 * length(replace(v_mask::bit(8)::text, '0', ''));
        frame_count := frame_count + 1;
    END LOOP;
    IF v_pos <> v_len OR frame_count = 0 THEN
        RAISE EXCEPTION 'malformed frames' USING ERRCODE = '22023';
    END IF;
END $$;

-- Inserts the videos of a jsonb array for a case (shared by create and
-- add).  Each element: {"md5": hex|null, "sha256": hex|null,
-- "duration": seconds|null, "frames": packed hex|null}.  A video equal
-- (frames and both digests) to one already in the case, or to an earlier
-- element, is skipped.  Returns the ids of the inserted videos.
CREATE FUNCTION sitr_case_insert_videos(p_case_id bigint, p_videos jsonb) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    v_vid    jsonb;
    v_md5    bytea;
    v_sha    bytea;
    v_frames bytea;
    v_count  int;
    v_dur    real;
    v_id     bigint;
    v_ids    bigint[] := '{}';
BEGIN
    IF p_videos IS NULL OR jsonb_typeof(p_videos) = 'null' THEN
        RETURN v_ids;
    END IF;
    IF jsonb_typeof(p_videos) <> 'array' THEN
        RAISE EXCEPTION 'videos must be an array' USING ERRCODE = '22023';
    END IF;
    FOR v_vid IN SELECT e FROM jsonb_array_elements(p_videos) WITH ORDINALITY AS t(e, o) ORDER BY o
    LOOP
        IF jsonb_typeof(v_vid) IS DISTINCT FROM 'object' THEN
            RAISE EXCEPTION 'video must be an object' USING ERRCODE = '22023';
        END IF;
        v_md5 := sitr_hex(v_vid ->> 'md5', 16, 'md5');
        v_sha := sitr_hex(v_vid ->> 'sha256', 32, 'sha256');
        v_frames := NULL;
        v_count := NULL;
        IF v_vid ->> 'frames' IS NOT NULL THEN
            SELECT f.frames, f.frame_count INTO v_frames, v_count FROM sitr_frames(v_vid ->> 'frames') f;
        END IF;
        v_dur := (v_vid ->> 'duration')::real;
        IF v_frames IS NULL AND v_md5 IS NULL AND v_sha IS NULL THEN
            RAISE EXCEPTION 'video without any hash' USING ERRCODE = '22023';
        END IF;
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM case_videos
             WHERE case_id = p_case_id AND erased_at IS NULL
               AND frames IS NOT DISTINCT FROM v_frames
               AND md5 IS NOT DISTINCT FROM v_md5
               AND sha256 IS NOT DISTINCT FROM v_sha);
        INSERT INTO case_videos (case_id, md5, sha256, duration, frame_count, frames)
        VALUES (p_case_id, v_md5, v_sha, v_dur, v_count, v_frames)
        RETURNING id INTO v_id;
        v_ids := v_ids || v_id;
    END LOOP;
    RETURN v_ids;
END $$;

-- POST /v1/cases with images and/or videos.  p_max_per_case caps images,
-- p_max_videos_per_case caps videos (SIT01 when over).
CREATE FUNCTION sitr_case_create(p_reference text, p_secret_digest bytea, p_images jsonb,
                                 p_videos jsonb, p_max_per_case int, p_max_videos_per_case int)
RETURNS TABLE (case_id bigint, images int, videos int)
LANGUAGE plpgsql AS $$
DECLARE
    v_case bigint;
    v_ids  bigint[];
    v_vids bigint[];
BEGIN
    INSERT INTO cases (reference, secret_digest) VALUES (p_reference, p_secret_digest)
    RETURNING id INTO v_case;
    v_ids := sitr_case_insert_images(v_case, coalesce(p_images, '[]'::jsonb));
    v_vids := sitr_case_insert_videos(v_case, p_videos);
    IF cardinality(v_ids) + cardinality(v_vids) = 0 THEN
        RAISE EXCEPTION 'a case needs at least one image or video' USING ERRCODE = '22023';
    END IF;
    IF p_max_per_case IS NOT NULL AND cardinality(v_ids) > p_max_per_case THEN
        RAISE EXCEPTION 'too many images for one case'
            USING ERRCODE = 'SIT01', HINT = 'limit ' || p_max_per_case;
    END IF;
    IF p_max_videos_per_case IS NOT NULL AND cardinality(v_vids) > p_max_videos_per_case THEN
        RAISE EXCEPTION 'too many videos for one case'
            USING ERRCODE = 'SIT01', HINT = 'limit ' || p_max_videos_per_case;
    END IF;
    INSERT INTO case_events (case_id, kind, count) VALUES (v_case, 'case_created', cardinality(v_ids));
    IF cardinality(v_vids) > 0 THEN
        INSERT INTO case_events (case_id, kind, count)
        VALUES (v_case, 'videos_added', cardinality(v_vids));
    END IF;
    PERFORM sitr_change_log('case_image_added', v_ids);
    PERFORM sitr_change_log('case_video_added', v_vids);
    case_id := v_case;
    images := cardinality(v_ids);
    videos := cardinality(v_vids);
    RETURN NEXT;
END $$;

-- POST /v1/cases/{case}/images with images and/or videos.
CREATE FUNCTION sitr_case_add(p_case_id bigint, p_images jsonb, p_videos jsonb,
                              p_max_per_case int, p_max_videos_per_case int)
RETURNS TABLE (added int, total int, videos_added int, videos_total int)
LANGUAGE plpgsql AS $$
DECLARE
    v_withdrawn timestamptz;
    v_ids       bigint[];
    v_vids      bigint[];
    v_total     int;
    v_vtotal    int;
BEGIN
    SELECT withdrawn_at INTO v_withdrawn FROM cases WHERE id = p_case_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such case' USING ERRCODE = 'SIT03';
    END IF;
    IF v_withdrawn IS NOT NULL THEN
        RAISE EXCEPTION 'case withdrawn' USING ERRCODE = 'SIT04';
    END IF;
    v_ids := sitr_case_insert_images(p_case_id, coalesce(p_images, '[]'::jsonb));
    v_vids := sitr_case_insert_videos(p_case_id, p_videos);
    SELECT count(*) INTO v_total FROM case_images WHERE case_id = p_case_id AND erased_at IS NULL;
    SELECT count(*) INTO v_vtotal FROM case_videos WHERE case_id = p_case_id AND erased_at IS NULL;
    IF p_max_per_case IS NOT NULL AND v_total > p_max_per_case THEN
        RAISE EXCEPTION 'too many images for one case'
            USING ERRCODE = 'SIT01', HINT = 'limit ' || p_max_per_case;
    END IF;
    IF p_max_videos_per_case IS NOT NULL AND v_vtotal > p_max_videos_per_case THEN
        RAISE EXCEPTION 'too many videos for one case'
            USING ERRCODE = 'SIT01', HINT = 'limit ' || p_max_videos_per_case;
    END IF;
    IF cardinality(v_ids) > 0 THEN
        INSERT INTO case_events (case_id, kind, count)
        VALUES (p_case_id, 'images_added', cardinality(v_ids));
        PERFORM sitr_change_log('case_image_added', v_ids);
    END IF;
    IF cardinality(v_vids) > 0 THEN
        INSERT INTO case_events (case_id, kind, count)
        VALUES (p_case_id, 'videos_added', cardinality(v_vids));
        PERFORM sitr_change_log('case_video_added', v_vids);
    END IF;
    added := cardinality(v_ids);
    total := v_total;
    videos_added := cardinality(v_vids);
    videos_total := v_vtotal;
    RETURN NEXT;
END $$;

-- DELETE /v1/cases/{case}: as in 0001, and the videos' frames and digests
-- are erased in the same transaction.
CREATE OR REPLACE FUNCTION sitr_case_withdraw(p_case_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_withdrawn timestamptz;
    v_ids       bigint[];
    v_vids      bigint[];
    v_td        bigint[];
BEGIN
    SELECT withdrawn_at INTO v_withdrawn FROM cases WHERE id = p_case_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such case' USING ERRCODE = 'SIT03';
    END IF;
    IF v_withdrawn IS NOT NULL THEN
        RETURN false;
    END IF;
    UPDATE cases SET withdrawn_at = now() WHERE id = p_case_id;
    DELETE FROM case_image_variants v USING case_images i
     WHERE v.image_id = i.id AND i.case_id = p_case_id;
    WITH e AS (
        UPDATE case_images
           SET pdq = NULL, quality = NULL, md5 = NULL, sha256 = NULL, erased_at = now()
         WHERE case_id = p_case_id AND erased_at IS NULL
        RETURNING id
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO v_ids FROM e;
    WITH e AS (
        UPDATE case_videos
           SET frames = NULL, frame_count = NULL, duration = NULL, md5 = NULL, sha256 = NULL,
               erased_at = now()
         WHERE case_id = p_case_id AND erased_at IS NULL
        RETURNING id
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO v_vids FROM e;
    WITH c AS (
        UPDATE takedowns SET status = 'cancelled', updated_at = now(),
                             note = 'withdrawn by the victim'
         WHERE case_id = p_case_id AND status = 'pending'
        RETURNING id, platform_id
    ), h AS (
        INSERT INTO takedown_history (takedown_id, status, note)
        SELECT id, 'cancelled', 'withdrawn by the victim' FROM c
    ), ev AS (
        INSERT INTO case_events (case_id, kind, platform_id, takedown_id)
        SELECT p_case_id, 'takedown_cancelled', platform_id, id FROM c
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO v_td FROM c;
    INSERT INTO case_events (case_id, kind, count)
    VALUES (p_case_id, 'case_withdrawn', cardinality(v_ids) + cardinality(v_vids));
    PERFORM sitr_change_log('case_image_removed', v_ids);
    PERFORM sitr_change_log('case_video_removed', v_vids);
    PERFORM sitr_change_log('takedown_updated', v_td);
    PERFORM sitr_change_log('case_withdrawn', ARRAY[p_case_id]);
    RETURN true;
END $$;

-- GET /v1/cases/{case}: as in 0001, plus the number of videos; matches of
-- images and videos alike.
CREATE OR REPLACE FUNCTION sitr_case_status(p_case_id bigint, p_limit int DEFAULT 200)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'created_at', c.created_at,
    'withdrawn_at', c.withdrawn_at,
    'images', (SELECT count(*) FROM case_images i WHERE i.case_id = c.id AND i.erased_at IS NULL),
    'videos', (SELECT count(*) FROM case_videos v WHERE v.case_id = c.id AND v.erased_at IS NULL),
    'matches', (SELECT count(*) FROM case_matches m WHERE m.case_id = c.id),
    'uploads_blocked', (SELECT coalesce(sum(e.count), 0) FROM case_events e
                         WHERE e.case_id = c.id AND e.kind = 'upload_blocked'),
    'takedowns', (SELECT jsonb_build_object(
                      'pending', count(*) FILTER (WHERE t.status = 'pending'),
                      'removed', count(*) FILTER (WHERE t.status = 'removed'),
                      'rejected', count(*) FILTER (WHERE t.status = 'rejected'),
                      'not_found', count(*) FILTER (WHERE t.status = 'not_found'),
                      'cancelled', count(*) FILTER (WHERE t.status = 'cancelled'))
                    FROM takedowns t WHERE t.case_id = c.id),
    'timeline', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                            'at', x.created_at, 'event', x.kind, 'platform', x.platform,
                            'count', x.count)) ORDER BY x.id), '[]'::jsonb)
                   FROM (SELECT e.id, e.created_at, e.kind, p.name AS platform, e.count
                           FROM case_events e LEFT JOIN platforms p ON p.id = e.platform_id
                          WHERE e.case_id = c.id
                          ORDER BY e.id DESC LIMIT p_limit) x))
FROM cases c WHERE c.id = p_case_id
$$;

-- GET /v1/cases/{case}/report: as in 0001, plus the number of videos, and
-- for each match what was found (image or video), the video evidence
-- (share of the case video covered, longest aligned run in seconds).
-- The video evidence of a match or takedown as report members; nothing for
-- an image match (the report's image entries keep their 0001 shape).
CREATE FUNCTION sitr_video_evidence(p_coverage real, p_run_seconds real) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN p_coverage IS NULL AND p_run_seconds IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('coverage', p_coverage, 'run_seconds', p_run_seconds) END
$$;

CREATE OR REPLACE FUNCTION sitr_case_report(p_case_id bigint, p_limit int DEFAULT 1000)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'reference', c.reference,
    'created_at', sitr_report_time(c.created_at),
    'withdrawn_at', sitr_report_time(c.withdrawn_at),
    'generated_at', sitr_report_time(now()),
    'images', (SELECT count(*) FROM case_images i WHERE i.case_id = c.id AND i.erased_at IS NULL),
    'videos', (SELECT count(*) FROM case_videos v WHERE v.case_id = c.id AND v.erased_at IS NULL),
    'summary', jsonb_build_object(
        'platforms', (SELECT count(DISTINCT x.platform_id) FROM (
                          SELECT t.platform_id FROM takedowns t WHERE t.case_id = c.id
                          UNION ALL
                          SELECT e.platform_id FROM case_events e
                           WHERE e.case_id = c.id AND e.kind = 'upload_blocked') x),
        'uploads_found', (SELECT count(*) FROM takedowns t WHERE t.case_id = c.id),
        'matches', (SELECT count(*) FROM case_matches m WHERE m.case_id = c.id),
        'takedowns', (SELECT jsonb_build_object(
                          'pending', count(*) FILTER (WHERE t.status = 'pending'),
                          'removed', count(*) FILTER (WHERE t.status = 'removed'),
                          'rejected', count(*) FILTER (WHERE t.status = 'rejected'),
                          'not_found', count(*) FILTER (WHERE t.status = 'not_found'),
                          'cancelled', count(*) FILTER (WHERE t.status = 'cancelled'))
                        FROM takedowns t WHERE t.case_id = c.id),
        'uploads_blocked', (SELECT coalesce(sum(e.count), 0) FROM case_events e
                             WHERE e.case_id = c.id AND e.kind = 'upload_blocked')),
    'truncated', (SELECT count(*) > p_limit FROM takedowns t WHERE t.case_id = c.id)
                 OR (SELECT count(DISTINCT (e.platform_id, (e.created_at AT TIME ZONE 'UTC')::date))
                           > p_limit
                       FROM case_events e WHERE e.case_id = c.id AND e.kind = 'upload_blocked'),
    'takedowns', (SELECT coalesce(jsonb_agg((jsonb_build_object(
                          'id', t.id::text, 'platform', p.name, 'platform_id', t.platform_id,
                          'upload', jsonb_build_object(
                              'id', u.content_id, 'url', u.url,
                              'kind', CASE WHEN u.is_video
                                                OR t.signal IN ('vpdq_copy', 'vpdq_excerpt')
                                           THEN 'video' ELSE 'image' END,
                              'reported_at', sitr_report_time(u.created_at),
                              'removed_at', sitr_report_time(u.removed_at)),
                          'signal', t.signal, 'distance', t.distance,
                          'found_at', (SELECT sitr_report_time(min(m.created_at))
                                         FROM case_matches m
                                        WHERE m.upload_id = t.upload_id AND m.case_id = c.id),
                          'matches', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                                 'target', m.target,
                                                 'signal', m.signal, 'distance', m.distance,
                                                 'found_at', sitr_report_time(m.created_at))
                                                 || sitr_video_evidence(m.coverage, m.run_seconds)
                                                 ORDER BY m.id), '[]'::jsonb)
                                        FROM case_matches m
                                       WHERE m.upload_id = t.upload_id AND m.case_id = c.id),
                          'status', t.status, 'note', t.note,
                          'requested_at', sitr_report_time(t.created_at),
                          'updated_at', sitr_report_time(t.updated_at),
                          'history', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                                 'status', h.status,
                                                 'at', sitr_report_time(h.created_at),
                                                 'note', h.note)
                                                 ORDER BY h.id), '[]'::jsonb)
                                        FROM takedown_history h WHERE h.takedown_id = t.id))
                          || sitr_video_evidence(t.coverage, t.run_seconds))
                          ORDER BY t.id), '[]'::jsonb)
                    FROM (SELECT * FROM takedowns t0 WHERE t0.case_id = c.id
                           ORDER BY t0.id LIMIT p_limit) t
                    JOIN uploads u ON u.id = t.upload_id
                    JOIN platforms p ON p.id = t.platform_id),
    'uploads_blocked', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                'platform', b.platform, 'date', to_char(b.day, 'YYYY-MM-DD'),
                                'count', b.count, 'first_at', sitr_report_time(b.first_at),
                                'last_at', sitr_report_time(b.last_at))
                                ORDER BY b.day, b.platform), '[]'::jsonb)
                          FROM (SELECT p.name AS platform,
                                       (e.created_at AT TIME ZONE 'UTC')::date AS day,
                                       sum(e.count) AS count, min(e.created_at) AS first_at,
                                       max(e.created_at) AS last_at
                                  FROM case_events e JOIN platforms p ON p.id = e.platform_id
                                 WHERE e.case_id = c.id AND e.kind = 'upload_blocked'
                                 GROUP BY 1, 2
                                 ORDER BY 2, 1 LIMIT p_limit) b))
FROM cases c WHERE c.id = p_case_id
$$;

------------------------------------------------------------------------------
-- Platforms' side and the matcher
------------------------------------------------------------------------------

-- POST /v1/uploads: as in 0001; an element may be a video: {"id", "url",
-- "frames": packed hex (mask 0), "duration", "md5", "sha256"} with no pdq.
-- The frames take part in "unchanged" like the other hashes.
CREATE OR REPLACE FUNCTION sitr_uploads_report(p_platform_id bigint, p_uploads jsonb)
RETURNS TABLE (content_id text, upload_id bigint, status text)
LANGUAGE plpgsql AS $$
DECLARE
    v_u      jsonb;
    v_pdq    bytea;
    v_md5    bytea;
    v_sha    bytea;
    v_q      smallint;
    v_frames bytea;
    v_count  int;
    v_dur    real;
    v_old    uploads%ROWTYPE;
    v_ids    bigint[] := '{}';
BEGIN
    IF jsonb_typeof(p_uploads) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'uploads must be an array' USING ERRCODE = '22023';
    END IF;
    FOR v_u IN SELECT e FROM jsonb_array_elements(p_uploads) WITH ORDINALITY AS t(e, o) ORDER BY o
    LOOP
        content_id := v_u ->> 'id';
        v_pdq := sitr_hex(v_u ->> 'pdq', 32, 'pdq');
        v_md5 := sitr_hex(v_u ->> 'md5', 16, 'md5');
        v_sha := sitr_hex(v_u ->> 'sha256', 32, 'sha256');
        v_q := (v_u ->> 'quality')::smallint;
        v_frames := NULL;
        v_count := NULL;
        v_dur := NULL;
        IF v_u ->> 'frames' IS NOT NULL THEN
            SELECT f.frames, f.frame_count INTO v_frames, v_count FROM sitr_frames(v_u ->> 'frames') f;
            v_dur := (v_u ->> 'duration')::real;
        END IF;
        IF v_pdq IS NOT NULL AND v_frames IS NOT NULL THEN
            RAISE EXCEPTION 'an upload is an image or a video' USING ERRCODE = '22023';
        END IF;
        IF v_pdq IS NOT NULL AND (v_q IS NULL OR v_q < 50) THEN
            RAISE EXCEPTION 'pdq quality below 50' USING ERRCODE = '22023';
        END IF;
        IF v_pdq IS NULL THEN
            v_q := NULL;
        END IF;
        SELECT * INTO v_old FROM uploads u
         WHERE u.platform_id = p_platform_id AND u.content_id = v_u ->> 'id' FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO uploads (platform_id, content_id, url, pdq, quality, md5, sha256, frames,
                                 frame_count, duration, is_video)
            VALUES (p_platform_id, v_u ->> 'id', v_u ->> 'url', v_pdq, v_q, v_md5, v_sha, v_frames,
                    v_count, v_dur, v_u ? 'frames')
            RETURNING id INTO upload_id;
            status := 'created';
            v_ids := v_ids || upload_id;
        ELSIF v_old.removed_at IS NULL
              AND v_old.pdq IS NOT DISTINCT FROM v_pdq AND v_old.md5 IS NOT DISTINCT FROM v_md5
              AND v_old.sha256 IS NOT DISTINCT FROM v_sha
              AND v_old.frames IS NOT DISTINCT FROM v_frames THEN
            upload_id := v_old.id;
            status := 'unchanged';
            IF v_old.url IS DISTINCT FROM v_u ->> 'url' THEN
                UPDATE uploads SET url = v_u ->> 'url' WHERE id = v_old.id;
            END IF;
        ELSE
            UPDATE uploads SET url = v_u ->> 'url', pdq = v_pdq, quality = v_q, md5 = v_md5,
                               sha256 = v_sha, frames = v_frames, frame_count = v_count,
                               duration = v_dur, is_video = v_u ? 'frames',
                               removed_at = NULL
             WHERE id = v_old.id;
            upload_id := v_old.id;
            status := 'updated';
            v_ids := v_ids || upload_id;
        END IF;
        RETURN NEXT;
    END LOOP;
    PERFORM sitr_change_log('upload_added', v_ids);
END $$;

-- DELETE /v1/uploads/{id}: the frames go with the other hashes.
CREATE OR REPLACE FUNCTION sitr_upload_remove(p_platform_id bigint, p_content_id text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    UPDATE uploads SET removed_at = now(), pdq = NULL, quality = NULL, md5 = NULL, sha256 = NULL,
                       frames = NULL, frame_count = NULL, duration = NULL
     WHERE platform_id = p_platform_id AND content_id = p_content_id AND removed_at IS NULL
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RETURN false;
    END IF;
    PERFORM sitr_change_log('upload_removed', ARRAY[v_id]);
    RETURN true;
END $$;

-- POST /v1/match: "upload blocked" on each case whose images or videos a
-- query matched (one event per case per call, count = matched targets).
CREATE FUNCTION sitr_match_record_blocked(p_platform_id bigint, p_case_image_ids bigint[],
                                          p_case_video_ids bigint[])
RETURNS int
LANGUAGE sql AS $$
WITH hit AS (
    SELECT i.case_id FROM unnest(coalesce(p_case_image_ids, '{}')) AS x(id)
      JOIN case_images i ON i.id = x.id
    UNION ALL
    SELECT v.case_id FROM unnest(coalesce(p_case_video_ids, '{}')) AS x(id)
      JOIN case_videos v ON v.id = x.id
), ins AS (
    INSERT INTO case_events (case_id, kind, platform_id, count)
    SELECT h.case_id, 'upload_blocked', p_platform_id, count(*)
      FROM hit h JOIN cases c ON c.id = h.case_id AND c.withdrawn_at IS NULL
     GROUP BY h.case_id
    RETURNING 1
)
SELECT count(*)::int FROM ins
$$;

-- The matcher's commit, as in 0001; an element names "case_image_id" or
-- "case_video_id", and video matches carry "coverage" and "run_seconds".
CREATE OR REPLACE FUNCTION sitr_matcher_commit(p_seq bigint, p_matches jsonb) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_m    record;
    v_case bigint;
    v_plat bigint;
    v_td   bigint;
    v_tds  bigint[] := '{}';
BEGIN
    FOR v_m IN
        SELECT (e ->> 'case_image_id')::bigint AS image_id,
               (e ->> 'case_video_id')::bigint AS video_id,
               (e ->> 'upload_id')::bigint AS upload_id,
               e ->> 'signal' AS signal, (e ->> 'distance')::smallint AS distance,
               (e ->> 'coverage')::real AS coverage, (e ->> 'run_seconds')::real AS run_seconds
          FROM jsonb_array_elements(coalesce(p_matches, '[]')) WITH ORDINALITY AS t(e, o)
         ORDER BY o
    LOOP
        IF num_nonnulls(v_m.image_id, v_m.video_id) <> 1 THEN
            RAISE EXCEPTION 'a match names one image or one video' USING ERRCODE = '22023';
        END IF;
        -- FOR SHARE: see 0001 (a withdrawal or removal in flight is waited
        -- for and then seen).
        IF v_m.image_id IS NOT NULL THEN
            SELECT i.case_id, u.platform_id INTO v_case, v_plat
              FROM case_images i JOIN cases c ON c.id = i.case_id, uploads u
             WHERE i.id = v_m.image_id AND u.id = v_m.upload_id
               AND i.erased_at IS NULL AND c.withdrawn_at IS NULL AND u.removed_at IS NULL
               FOR SHARE OF c, u;
        ELSE
            SELECT v.case_id, u.platform_id INTO v_case, v_plat
              FROM case_videos v JOIN cases c ON c.id = v.case_id, uploads u
             WHERE v.id = v_m.video_id AND u.id = v_m.upload_id
               AND v.erased_at IS NULL AND c.withdrawn_at IS NULL AND u.removed_at IS NULL
               FOR SHARE OF c, u;
        END IF;
        CONTINUE WHEN NOT FOUND;
        INSERT INTO matches (case_image_id, case_video_id, upload_id, signal, distance, coverage,
                             run_seconds)
        VALUES (v_m.image_id, v_m.video_id, v_m.upload_id, v_m.signal, v_m.distance,
                v_m.coverage, v_m.run_seconds)
        ON CONFLICT DO NOTHING;
        CONTINUE WHEN NOT FOUND;
        INSERT INTO case_events (case_id, kind, platform_id)
        VALUES (v_case, 'match_found', v_plat);
        INSERT INTO takedowns (platform_id, upload_id, case_id, signal, distance, quality,
                               coverage, run_seconds)
        SELECT v_plat, v_m.upload_id, v_case, v_m.signal, v_m.distance, u.quality,
               v_m.coverage, v_m.run_seconds
          FROM uploads u WHERE u.id = v_m.upload_id
        ON CONFLICT (upload_id, case_id) DO NOTHING
        RETURNING id INTO v_td;
        IF v_td IS NOT NULL THEN
            INSERT INTO takedown_history (takedown_id, status) VALUES (v_td, 'pending');
            INSERT INTO case_events (case_id, kind, platform_id, takedown_id)
            VALUES (v_case, 'takedown_requested', v_plat, v_td);
            v_tds := v_tds || v_td;
            v_td := NULL;
        END IF;
    END LOOP;
    UPDATE matcher_progress SET last_seq = greatest(last_seq, p_seq), updated_at = now();
    PERFORM sitr_change_log('takedown_created', v_tds);
    RETURN cardinality(v_tds);
END $$;

------------------------------------------------------------------------------
-- Reading for the indexes
------------------------------------------------------------------------------

-- Live case videos.  duration: the victim's hasher's figure (the share of
-- the video a match covers is relative to it).
CREATE VIEW index_case_videos AS
SELECT v.id AS video_id, v.case_id, v.md5, v.sha256, v.frames, v.duration
  FROM case_videos v JOIN cases c ON c.id = v.case_id
 WHERE v.erased_at IS NULL AND c.withdrawn_at IS NULL;

-- Live uploads, now with video frames.  (CREATE OR REPLACE VIEW may only
-- add columns at the end.)
CREATE OR REPLACE VIEW index_uploads AS
SELECT u.id AS upload_id, u.platform_id, u.pdq, u.quality, u.md5, u.sha256, u.frames,
       u.duration
  FROM uploads u
 WHERE u.removed_at IS NULL;

-- The change log after p_after with the current hashes of what each change
-- names, as in 0001, plus the packed frames of a case video or video
-- upload ("case_video_added": case_id, frames and duration of the video;
-- NULL when erased since).
DROP FUNCTION sitr_changes_after(bigint, int);
CREATE FUNCTION sitr_changes_after(p_after bigint, p_limit int)
RETURNS TABLE (seq bigint, kind text, entity_id bigint, case_id bigint, platform_id bigint,
               pdq bytea, quality smallint, md5 bytea, sha256 bytea, variants bytea[],
               frames bytea, duration real)
LANGUAGE sql STABLE AS $$
SELECT ch.seq, ch.kind, ch.entity_id,
       coalesce(ci.case_id, cv.case_id,
                CASE WHEN ch.kind = 'case_withdrawn' THEN ch.entity_id END),
       iu.platform_id,
       coalesce(ci.pdq, iu.pdq), coalesce(ci.quality, iu.quality),
       coalesce(ci.md5, cv.md5, iu.md5), coalesce(ci.sha256, cv.sha256, iu.sha256), ci.variants,
       coalesce(cv.frames, iu.frames), coalesce(cv.duration, iu.duration)
  FROM changes ch
  LEFT JOIN index_case_images ci ON ch.kind = 'case_image_added' AND ci.image_id = ch.entity_id
  LEFT JOIN index_case_videos cv ON ch.kind = 'case_video_added' AND cv.video_id = ch.entity_id
  LEFT JOIN index_uploads iu ON ch.kind = 'upload_added' AND iu.upload_id = ch.entity_id
 WHERE ch.seq > p_after
 ORDER BY ch.seq
 LIMIT p_limit
$$;
