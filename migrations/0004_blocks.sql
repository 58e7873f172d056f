-- sitr schema, version 4: uploads blocked by /v1/match, one row per
-- (case image or case video, platform, UTC day) with a count (issue 10).
--
-- Until now every /v1/match that matched wrote a case_events row per case:
-- one platform checking the same picture all day filled the victim's
-- timeline (2.9 million rows after six minutes of load) and put PostgreSQL
-- on the match path.  Now sitrd answers from memory, adds each block to a
-- bounded in-memory queue that aggregates by (item, platform, day), and a
-- writer sends the aggregates in batches to sitr_blocks_record, which adds
-- them to the one row of that (item, platform, day).  The status and the
-- report show one "blocked N times on platform X on <day>" entry per
-- (platform, day).
--
-- Old upload_blocked case events are folded here into one event per
-- (case, platform, UTC day), and read beside case_blocks (case_blocked_days)
-- so that nothing already shown to a victim disappears.  The per-request
-- function sitr_match_record_blocked is dropped: nothing can write a row per
-- request any more.

CREATE TABLE case_blocks (
    id            bigserial PRIMARY KEY,
    case_id       bigint NOT NULL REFERENCES cases (id),
    case_image_id bigint REFERENCES case_images (id),
    case_video_id bigint REFERENCES case_videos (id),
    platform_id   bigint NOT NULL REFERENCES platforms (id),
    day           date NOT NULL,
    count         bigint NOT NULL CHECK (count > 0),
    first_at      timestamptz NOT NULL,
    last_at       timestamptz NOT NULL,
    CHECK (num_nonnulls(case_image_id, case_video_id) = 1),
    CHECK (last_at >= first_at)
);
CREATE UNIQUE INDEX case_blocks_image ON case_blocks (case_image_id, platform_id, day)
    WHERE case_image_id IS NOT NULL;
CREATE UNIQUE INDEX case_blocks_video ON case_blocks (case_video_id, platform_id, day)
    WHERE case_video_id IS NOT NULL;
CREATE INDEX case_blocks_case ON case_blocks (case_id, day);

-- Old per-request events, one per (case, platform, UTC day).
WITH old AS (
    DELETE FROM case_events WHERE kind = 'upload_blocked'
    RETURNING case_id, platform_id, count, created_at
)
INSERT INTO case_events (case_id, kind, platform_id, count, created_at)
SELECT case_id, 'upload_blocked', platform_id, least(sum(count), 2147483647)::int,
       min(created_at)
  FROM old
 GROUP BY case_id, platform_id, (created_at AT TIME ZONE 'UTC')::date;

DROP FUNCTION sitr_match_record_blocked(bigint, bigint[]);
DROP FUNCTION sitr_match_record_blocked(bigint, bigint[], bigint[]);

-- Blocks per (case, platform, UTC day): the aggregated rows and the old
-- events folded above.  items: distinct case images and videos blocked.
CREATE VIEW case_blocked_days AS
SELECT b.case_id, b.platform_id, b.day, sum(b.count) AS count, min(b.first_at) AS first_at,
       max(b.last_at) AS last_at, count(*) AS items
  FROM (SELECT case_id, platform_id, day, count, first_at, last_at FROM case_blocks
        UNION ALL
        SELECT case_id, platform_id, (created_at AT TIME ZONE 'UTC')::date, count, created_at,
               created_at
          FROM case_events WHERE kind = 'upload_blocked') b
 GROUP BY b.case_id, b.platform_id, b.day;

-- The writer's batch (service/api/blocks.c): element k of every array
-- describes one aggregate: platform, video (false: a case image), target
-- (the case image or video id), day (days since 1970-01-01, UTC), n (how
-- many blocks), first_ms/last_ms (milliseconds since the epoch).  Each is
-- added to its (item, platform, day) row.  Items of a withdrawn case are
-- skipped (the match happened, the victim has left), and so is anything
-- that names no existing row.  Returns the number of rows written.
CREATE FUNCTION sitr_blocks_record(p_platforms bigint[], p_videos boolean[], p_targets bigint[],
                                   p_days int[], p_counts bigint[], p_first bigint[],
                                   p_last bigint[])
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_images int;
    v_videos int;
BEGIN
    IF cardinality(p_platforms) IS DISTINCT FROM cardinality(p_videos)
       OR cardinality(p_platforms) IS DISTINCT FROM cardinality(p_targets)
       OR cardinality(p_platforms) IS DISTINCT FROM cardinality(p_days)
       OR cardinality(p_platforms) IS DISTINCT FROM cardinality(p_counts)
       OR cardinality(p_platforms) IS DISTINCT FROM cardinality(p_first)
       OR cardinality(p_platforms) IS DISTINCT FROM cardinality(p_last) THEN
        RAISE EXCEPTION 'arrays of different lengths' USING ERRCODE = '22023';
    END IF;
    -- Rows are taken in key order, so two replicas writing overlapping
    -- batches lock them in the same order.
    WITH x AS (
        SELECT t.platform_id, t.target, t.day, sum(t.n) AS n, min(t.first_ms) AS first_ms,
               max(t.last_ms) AS last_ms
          FROM unnest(p_platforms, p_videos, p_targets, p_days, p_counts, p_first, p_last)
               AS t(platform_id, video, target, day, n, first_ms, last_ms)
         WHERE NOT t.video AND t.n > 0 AND t.last_ms >= t.first_ms
         GROUP BY t.target, t.platform_id, t.day
    ), ins AS (
        INSERT INTO case_blocks (case_id, case_image_id, platform_id, day, count, first_at,
                                 last_at)
        SELECT i.case_id, x.target, x.platform_id, date '1970-01-01' + x.day, x.n,
               to_timestamp(x.first_ms / 1000.0), to_timestamp(x.last_ms / 1000.0)
          FROM x JOIN case_images i ON i.id = x.target
          JOIN cases c ON c.id = i.case_id AND c.withdrawn_at IS NULL
          JOIN platforms p ON p.id = x.platform_id
         ORDER BY x.target, x.platform_id, x.day
        ON CONFLICT (case_image_id, platform_id, day) WHERE case_image_id IS NOT NULL
        DO UPDATE SET count = case_blocks.count + EXCLUDED.count,
                      first_at = least(case_blocks.first_at, EXCLUDED.first_at),
                      last_at = greatest(case_blocks.last_at, EXCLUDED.last_at)
        RETURNING 1
    )
    SELECT count(*) INTO v_images FROM ins;
    WITH x AS (
        SELECT t.platform_id, t.target, t.day, sum(t.n) AS n, min(t.first_ms) AS first_ms,
               max(t.last_ms) AS last_ms
          FROM unnest(p_platforms, p_videos, p_targets, p_days, p_counts, p_first, p_last)
               AS t(platform_id, video, target, day, n, first_ms, last_ms)
         WHERE t.video AND t.n > 0 AND t.last_ms >= t.first_ms
         GROUP BY t.target, t.platform_id, t.day
    ), ins AS (
        INSERT INTO case_blocks (case_id, case_video_id, platform_id, day, count, first_at,
                                 last_at)
        SELECT v.case_id, x.target, x.platform_id, date '1970-01-01' + x.day, x.n,
               to_timestamp(x.first_ms / 1000.0), to_timestamp(x.last_ms / 1000.0)
          FROM x JOIN case_videos v ON v.id = x.target
          JOIN cases c ON c.id = v.case_id AND c.withdrawn_at IS NULL
          JOIN platforms p ON p.id = x.platform_id
         ORDER BY x.target, x.platform_id, x.day
        ON CONFLICT (case_video_id, platform_id, day) WHERE case_video_id IS NOT NULL
        DO UPDATE SET count = case_blocks.count + EXCLUDED.count,
                      first_at = least(case_blocks.first_at, EXCLUDED.first_at),
                      last_at = greatest(case_blocks.last_at, EXCLUDED.last_at)
        RETURNING 1
    )
    SELECT count(*) INTO v_videos FROM ins;
    RETURN v_images + v_videos;
END $$;

-- GET /v1/cases/{case}: as in 0003; uploads_blocked counts both sources,
-- and the timeline shows blocks as ONE entry per (platform, UTC day):
-- {"at": first block, "event": "upload_blocked", "platform", "count",
-- "date": "YYYY-MM-DD", "last_at": last block}, placed by its first block
-- among the other events (latest p_limit entries, oldest first).
CREATE OR REPLACE FUNCTION sitr_case_status(p_case_id bigint, p_limit int DEFAULT 200)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'created_at', c.created_at,
    'withdrawn_at', c.withdrawn_at,
    'images', (SELECT count(*) FROM case_images i WHERE i.case_id = c.id AND i.erased_at IS NULL),
    'videos', (SELECT count(*) FROM case_videos v WHERE v.case_id = c.id AND v.erased_at IS NULL),
    'matches', (SELECT count(*) FROM case_matches m WHERE m.case_id = c.id),
    'uploads_blocked', (SELECT coalesce(sum(b.count), 0) FROM case_blocked_days b
                         WHERE b.case_id = c.id),
    'takedowns', (SELECT jsonb_build_object(
                      'pending', count(*) FILTER (WHERE t.status = 'pending'),
                      'removed', count(*) FILTER (WHERE t.status = 'removed'),
                      'rejected', count(*) FILTER (WHERE t.status = 'rejected'),
                      'not_found', count(*) FILTER (WHERE t.status = 'not_found'),
                      'cancelled', count(*) FILTER (WHERE t.status = 'cancelled'))
                    FROM takedowns t WHERE t.case_id = c.id),
    'timeline', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                            'at', x.at, 'event', x.kind, 'platform', x.platform,
                            'count', x.count, 'date', x.date, 'last_at', x.last_at))
                            ORDER BY x.at, x.seq), '[]'::jsonb)
                   FROM (SELECT * FROM (
                             SELECT e.created_at AS at, e.id AS seq, e.kind, p.name AS platform,
                                    e.count::bigint AS count, NULL::text AS date,
                                    NULL::timestamptz AS last_at
                               FROM case_events e LEFT JOIN platforms p ON p.id = e.platform_id
                              WHERE e.case_id = c.id AND e.kind <> 'upload_blocked'
                             UNION ALL
                             SELECT b.first_at, 0, 'upload_blocked', p.name, b.count,
                                    to_char(b.day, 'YYYY-MM-DD'), b.last_at
                               FROM case_blocked_days b JOIN platforms p ON p.id = b.platform_id
                              WHERE b.case_id = c.id) y
                          ORDER BY y.at DESC, y.seq DESC LIMIT p_limit) x))
FROM cases c WHERE c.id = p_case_id
$$;

-- GET /v1/cases/{case}/report: as in 0003, with the blocks read from
-- case_blocked_days (one group per platform and UTC day, as before).
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
                          SELECT b.platform_id FROM case_blocked_days b
                           WHERE b.case_id = c.id) x),
        'uploads_found', (SELECT count(*) FROM takedowns t WHERE t.case_id = c.id),
        'matches', (SELECT count(*) FROM case_matches m WHERE m.case_id = c.id),
        'takedowns', (SELECT jsonb_build_object(
                          'pending', count(*) FILTER (WHERE t.status = 'pending'),
                          'removed', count(*) FILTER (WHERE t.status = 'removed'),
                          'rejected', count(*) FILTER (WHERE t.status = 'rejected'),
                          'not_found', count(*) FILTER (WHERE t.status = 'not_found'),
                          'cancelled', count(*) FILTER (WHERE t.status = 'cancelled'))
                        FROM takedowns t WHERE t.case_id = c.id),
        'uploads_blocked', (SELECT coalesce(sum(b.count), 0) FROM case_blocked_days b
                             WHERE b.case_id = c.id)),
    'truncated', (SELECT count(*) > p_limit FROM takedowns t WHERE t.case_id = c.id)
                 OR (SELECT count(*) > p_limit FROM case_blocked_days b WHERE b.case_id = c.id),
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
                                'platform', g.platform, 'date', to_char(g.day, 'YYYY-MM-DD'),
                                'count', g.count, 'first_at', sitr_report_time(g.first_at),
                                'last_at', sitr_report_time(g.last_at))
                                ORDER BY g.day, g.platform), '[]'::jsonb)
                          FROM (SELECT p.name AS platform, b.day, b.count, b.first_at, b.last_at
                                  FROM case_blocked_days b JOIN platforms p ON p.id = b.platform_id
                                 WHERE b.case_id = c.id
                                 ORDER BY b.day, p.name LIMIT p_limit) g))
FROM cases c WHERE c.id = p_case_id
$$;
