-- sitr schema, version 11: the transparency figures count partner lists
-- apart from victims' cases (issue 12).
--
-- 0009 added sources: cases with a source_id hold a partner's imported list
-- (`sitr-admin import`), not a victim's pictures.  Until now sitr_stats and
-- the gauges counted them as victims' cases.  Now:
--
-- * sitr_stats (as in 0008): "cases" and "held" count victims' cases only,
--   and each month has "sources": [{"source", "imports" (lists imported
--   that month), "withdrawn" (lists withdrawn that month), "images",
--   "videos" (held at the month's end)}] for every source with a list
--   imported, withdrawn or held that month.  Checks, blocks and takedowns
--   stay per platform, whoever's hashes matched.
-- * sitr_stats_gauges (as in 0008): sitr_stats_cases and sitr_stats_held
--   count victims' cases only; sitr_stats_source_held{source, kind} counts
--   each source's images and videos held.
-- * sitr_source_withdraw_hash (as in 0009) deletes the takedowns of the
--   image it erases without going through sitr_case_unlink, so they left
--   the figures; it now keeps them first, as sitr_case_unlink does, through
--   sitr_takedowns_keep_figures (the two INSERTs of 0007's
--   sitr_case_unlink, which now calls it too).

-- Adds takedowns p_td (about to be deleted) to withdrawn_takedown_counts
-- (per platform, month of the request and outcome; pending as cancelled)
-- and, for the answered ones, to withdrawn_takedown_answers.
CREATE FUNCTION sitr_takedowns_keep_figures(p_td bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO withdrawn_takedown_counts AS w (platform_id, month, status, takedowns)
    SELECT t.platform_id, date_trunc('month', t.created_at AT TIME ZONE 'UTC')::date,
           CASE WHEN t.status = 'pending' THEN 'cancelled' ELSE t.status END, count(*)
      FROM takedowns t WHERE t.id = ANY (p_td)
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3
    ON CONFLICT (platform_id, month, status)
    DO UPDATE SET takedowns = w.takedowns + EXCLUDED.takedowns;
    INSERT INTO withdrawn_takedown_answers (platform_id, month, seconds)
    SELECT a.platform_id, a.month, a.seconds
      FROM takedown_answer_times a WHERE a.takedown_id = ANY (p_td)
     ORDER BY a.platform_id, a.month, a.seconds;
END $$;

-- As in 0007, the figures kept by the helper.
CREATE OR REPLACE FUNCTION sitr_case_unlink(p_case_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_td bigint[];
BEGIN
    -- Locked first, so that a platform's answer in flight either commits
    -- before (and is counted) or then finds no takedown.
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO v_td
      FROM (SELECT id FROM takedowns WHERE case_id = p_case_id FOR UPDATE) t;
    UPDATE cases c
       SET withdrawn_takedowns = s.n, withdrawn_rejected = s.rejected,
           withdrawn_removed = s.removed
      FROM (SELECT count(*)::int AS n,
                   (count(*) FILTER (WHERE status = 'rejected'))::int AS rejected,
                   (count(*) FILTER (WHERE status = 'removed'))::int AS removed
              FROM takedowns WHERE case_id = p_case_id) s
     WHERE c.id = p_case_id;
    PERFORM sitr_takedowns_keep_figures(v_td);
    DELETE FROM case_events
     WHERE case_id = p_case_id
       AND (takedown_id IS NOT NULL
            OR kind IN ('match_found', 'takedown_requested', 'takedown_removed',
                        'takedown_rejected', 'takedown_not_found', 'takedown_cancelled'));
    DELETE FROM webhook_deliveries WHERE takedown_id = ANY (v_td);
    DELETE FROM takedown_history WHERE takedown_id = ANY (v_td);
    DELETE FROM takedowns WHERE id = ANY (v_td);
    DELETE FROM changes
     WHERE kind IN ('takedown_created', 'takedown_updated') AND entity_id = ANY (v_td);
    DELETE FROM matches m USING case_images i
     WHERE m.case_image_id = i.id AND i.case_id = p_case_id;
    DELETE FROM matches m USING case_videos v
     WHERE m.case_video_id = v.id AND v.case_id = p_case_id;
END $$;

-- As in 0009, the erased image's takedowns kept in the figures first.
CREATE OR REPLACE FUNCTION sitr_source_withdraw_hash(p_source text, p_hash bytea) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_src   sources%ROWTYPE;
    v_ids   bigint[];
    v_cases bigint[];
    v_td    bigint[];
BEGIN
    SELECT * INTO v_src FROM sources s WHERE s.name = p_source FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such source' USING ERRCODE = 'SIT03';
    END IF;
    IF octet_length(p_hash) NOT IN (16, 32) THEN
        RAISE EXCEPTION 'malformed hash' USING ERRCODE = '22023';
    END IF;
    SELECT coalesce(array_agg(i.id ORDER BY i.id), '{}'),
           coalesce(array_agg(DISTINCT i.case_id), '{}')
      INTO v_ids, v_cases
      FROM case_images i JOIN cases c ON c.id = i.case_id
     WHERE c.source_id = v_src.id AND c.withdrawn_at IS NULL AND i.erased_at IS NULL
       AND (i.pdq = p_hash OR i.md5 = p_hash OR i.sha256 = p_hash);
    IF cardinality(v_ids) = 0 THEN
        RETURN 0;
    END IF;
    -- The cases first (as a withdrawal does), so that the matcher's commit
    -- in flight either finished before or waits and then sees the erasure.
    PERFORM 1 FROM cases WHERE id = ANY (v_cases) ORDER BY id FOR UPDATE;
    DELETE FROM case_image_variants WHERE image_id = ANY (v_ids);
    UPDATE case_images
       SET pdq = NULL, quality = NULL, md5 = NULL, sha256 = NULL, erased_at = now()
     WHERE id = ANY (v_ids);
    DELETE FROM matches WHERE case_image_id = ANY (v_ids);
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO v_td
      FROM (SELECT t.id FROM takedowns t
             WHERE t.case_id = ANY (v_cases)
               AND NOT EXISTS (SELECT 1 FROM case_matches m
                                WHERE m.case_id = t.case_id AND m.upload_id = t.upload_id)
               FOR UPDATE) x;
    PERFORM sitr_takedowns_keep_figures(v_td);
    DELETE FROM case_events WHERE takedown_id = ANY (v_td);
    DELETE FROM webhook_deliveries WHERE takedown_id = ANY (v_td);
    DELETE FROM takedown_history WHERE takedown_id = ANY (v_td);
    DELETE FROM takedowns WHERE id = ANY (v_td);
    DELETE FROM changes
     WHERE kind IN ('takedown_created', 'takedown_updated') AND entity_id = ANY (v_td);
    PERFORM sitr_change_log('case_image_removed', v_ids);
    RETURN cardinality(v_ids);
END $$;


-- `sitr-admin stats`: as in 0008, victims' cases and sources apart.
CREATE OR REPLACE FUNCTION sitr_stats(p_from date, p_to date) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_from date := date_trunc('month', p_from::timestamp)::date;
    v_to   date := date_trunc('month', p_to::timestamp)::date;
    v_out  jsonb;
BEGIN
    IF v_from IS NULL OR v_to IS NULL OR v_from > v_to THEN
        RAISE EXCEPTION 'the first month is after the last' USING ERRCODE = '22023';
    END IF;
    IF v_to > date_trunc('month', now() AT TIME ZONE 'UTC')::date THEN
        RAISE EXCEPTION 'the last month is after the current one' USING ERRCODE = '22023';
    END IF;
    IF v_to > (v_from + interval '599 months')::date THEN
        RAISE EXCEPTION 'more than 600 months' USING ERRCODE = '22023';
    END IF;
    -- Items held at a month's end: created before it, minus erased before
    -- it; each table is read once, grouped by month and owner, whatever
    -- the range.
    -- The CTEs are materialized: the per-month and per-platform subqueries
    -- below read them many times.
    WITH months AS (
        SELECT g::date AS month
          FROM generate_series(v_from::timestamp, v_to::timestamp, interval '1 month') g
    -- source_id is NULL for a victim's case, the list's owner for an
    -- imported one (0 below stands for "a victim").
    ), opened AS MATERIALIZED (
        SELECT coalesce(source_id, 0) AS source_id,
               date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS month, count(*) AS n
          FROM cases WHERE created_at < now() GROUP BY 1, 2
    ), withdrawn AS MATERIALIZED (
        SELECT coalesce(source_id, 0) AS source_id,
               date_trunc('month', withdrawn_at AT TIME ZONE 'UTC')::date AS month, count(*) AS n
          FROM cases WHERE withdrawn_at < now() GROUP BY 1, 2
    ), items AS MATERIALIZED (
        SELECT coalesce(c.source_id, 0) AS source_id, 'image' AS kind,
               date_trunc('month', i.created_at AT TIME ZONE 'UTC')::date AS month, count(*) AS n
          FROM case_images i JOIN cases c ON c.id = i.case_id
         WHERE i.created_at < now() GROUP BY 1, 3
        UNION ALL
        SELECT coalesce(c.source_id, 0), 'image',
               date_trunc('month', i.erased_at AT TIME ZONE 'UTC')::date, -count(*)
          FROM case_images i JOIN cases c ON c.id = i.case_id
         WHERE i.erased_at < now() GROUP BY 1, 3
        UNION ALL
        SELECT coalesce(c.source_id, 0), 'video',
               date_trunc('month', v.created_at AT TIME ZONE 'UTC')::date, count(*)
          FROM case_videos v JOIN cases c ON c.id = v.case_id
         WHERE v.created_at < now() GROUP BY 1, 3
        UNION ALL
        SELECT coalesce(c.source_id, 0), 'video',
               date_trunc('month', v.erased_at AT TIME ZONE 'UTC')::date, -count(*)
          FROM case_videos v JOIN cases c ON c.id = v.case_id
         WHERE v.erased_at < now() GROUP BY 1, 3
    ), held AS MATERIALIZED (
        SELECT mo.month, i.source_id,
               coalesce(sum(i.n) FILTER (WHERE i.kind = 'image'), 0) AS images,
               coalesce(sum(i.n) FILTER (WHERE i.kind = 'video'), 0) AS videos
          FROM months mo JOIN items i ON i.month <= mo.month
         GROUP BY mo.month, i.source_id
    ), checks AS MATERIALIZED (
        SELECT platform_id, date_trunc('month', day::timestamp)::date AS month,
               sum(checks)::bigint AS n
          FROM platform_checks
         WHERE day >= v_from AND day < (v_to + interval '1 month')::date
         GROUP BY 1, 2
    ), blocks AS MATERIALIZED (
        SELECT platform_id, date_trunc('month', day::timestamp)::date AS month,
               sum(count)::bigint AS n
          FROM platform_blocked_days
         WHERE day >= v_from AND day < (v_to + interval '1 month')::date
         GROUP BY 1, 2
    ), tds AS MATERIALIZED (
        SELECT * FROM takedown_month_counts WHERE month BETWEEN v_from AND v_to
    ), answers AS MATERIALIZED (
        SELECT * FROM takedown_answer_seconds WHERE month BETWEEN v_from AND v_to
    ), pm AS MATERIALIZED (
        SELECT month, platform_id FROM checks
        UNION SELECT month, platform_id FROM blocks
        UNION SELECT month, platform_id FROM tds
    )
    SELECT jsonb_build_object(
        'from', to_char(v_from, 'YYYY-MM'),
        'to', to_char(v_to, 'YYYY-MM'),
        'months', jsonb_agg(jsonb_build_object(
            'month', to_char(mo.month, 'YYYY-MM'),
            'cases', jsonb_build_object(
                'opened', coalesce((SELECT o.n FROM opened o
                                     WHERE o.month = mo.month AND o.source_id = 0), 0),
                'withdrawn', coalesce((SELECT w.n FROM withdrawn w
                                        WHERE w.month = mo.month AND w.source_id = 0), 0)),
            'held', jsonb_build_object(
                'images', coalesce((SELECT h.images FROM held h
                                     WHERE h.month = mo.month AND h.source_id = 0), 0),
                'videos', coalesce((SELECT h.videos FROM held h
                                     WHERE h.month = mo.month AND h.source_id = 0), 0)),
            'sources', (
                SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'source', s.name,
                    'imports', coalesce((SELECT o.n FROM opened o
                                          WHERE o.month = mo.month AND o.source_id = s.id), 0),
                    'withdrawn', coalesce((SELECT w.n FROM withdrawn w
                                            WHERE w.month = mo.month AND w.source_id = s.id), 0),
                    'images', coalesce((SELECT h.images FROM held h
                                         WHERE h.month = mo.month AND h.source_id = s.id), 0),
                    'videos', coalesce((SELECT h.videos FROM held h
                                         WHERE h.month = mo.month AND h.source_id = s.id), 0))
                    ORDER BY s.name), '[]'::jsonb)
                  FROM sources s
                 WHERE EXISTS (SELECT 1 FROM opened o WHERE o.month = mo.month AND o.source_id = s.id)
                    OR EXISTS (SELECT 1 FROM withdrawn w
                                WHERE w.month = mo.month AND w.source_id = s.id)
                    OR EXISTS (SELECT 1 FROM held h WHERE h.month = mo.month AND h.source_id = s.id
                                  AND (h.images <> 0 OR h.videos <> 0))),
            'platforms', (
                SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'platform', p.name,
                    'checks', coalesce((SELECT n FROM checks k
                                         WHERE k.month = mo.month AND k.platform_id = p.id), 0),
                    'blocks', coalesce((SELECT n FROM blocks b
                                         WHERE b.month = mo.month AND b.platform_id = p.id), 0),
                    'takedowns', (
                        SELECT jsonb_build_object(
                            'requested', coalesce(sum(t.takedowns), 0),
                            'pending', coalesce(sum(t.takedowns) FILTER (WHERE t.status = 'pending'), 0),
                            'removed', coalesce(sum(t.takedowns) FILTER (WHERE t.status = 'removed'), 0),
                            'rejected', coalesce(sum(t.takedowns) FILTER (WHERE t.status = 'rejected'), 0),
                            'not_found', coalesce(sum(t.takedowns) FILTER (WHERE t.status = 'not_found'), 0),
                            'cancelled', coalesce(sum(t.takedowns) FILTER (WHERE t.status = 'cancelled'), 0))
                          FROM tds t WHERE t.month = mo.month AND t.platform_id = p.id),
                    'answer_seconds', (
                        SELECT jsonb_build_object(
                            'answered', count(*),
                            'median', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY a.seconds))::bigint,
                            'p90', round(percentile_cont(0.9) WITHIN GROUP (ORDER BY a.seconds))::bigint)
                          FROM answers a WHERE a.month = mo.month AND a.platform_id = p.id))
                    ORDER BY p.name), '[]'::jsonb)
                  FROM (SELECT DISTINCT platform_id FROM pm WHERE pm.month = mo.month) x
                  JOIN platforms p ON p.id = x.platform_id))
            ORDER BY mo.month))
      INTO v_out
      FROM months mo;
    RETURN v_out;
END $$;


-- sitrd's sitr_stats_* gauges: as in 0008, victims' cases apart, and
-- sitr_stats_source_held.
CREATE OR REPLACE FUNCTION sitr_stats_gauges()
RETURNS TABLE (metric text, labels text, value double precision)
LANGUAGE sql STABLE AS $$
SELECT 'sitr_stats_cases', 'state="open"', count(*)::float8 FROM cases
 WHERE withdrawn_at IS NULL AND source_id IS NULL
UNION ALL
SELECT 'sitr_stats_cases', 'state="withdrawn"', count(*)::float8 FROM cases
 WHERE withdrawn_at IS NOT NULL AND source_id IS NULL
UNION ALL
SELECT 'sitr_stats_held', 'kind="image"', count(*)::float8
  FROM case_images i JOIN cases c ON c.id = i.case_id
 WHERE i.erased_at IS NULL AND c.source_id IS NULL
UNION ALL
SELECT 'sitr_stats_held', 'kind="video"', count(*)::float8
  FROM case_videos v JOIN cases c ON c.id = v.case_id
 WHERE v.erased_at IS NULL AND c.source_id IS NULL
UNION ALL
(SELECT 'sitr_stats_source_held', format('source="%s",kind="%s"', s.name, x.kind), sum(x.n)::float8
   FROM sources s
   JOIN (SELECT c.source_id, 'image' AS kind, count(*) AS n
           FROM case_images i JOIN cases c ON c.id = i.case_id
          WHERE i.erased_at IS NULL AND c.source_id IS NOT NULL GROUP BY 1
         UNION ALL
         SELECT c.source_id, 'video', count(*)
           FROM case_videos v JOIN cases c ON c.id = v.case_id
          WHERE v.erased_at IS NULL AND c.source_id IS NOT NULL GROUP BY 1) x
     ON x.source_id = s.id
  GROUP BY s.name, x.kind ORDER BY s.name, x.kind)
UNION ALL
(SELECT 'sitr_stats_checks', format('platform="%s"', p.name), sum(k.checks)::float8
   FROM platform_checks k JOIN platforms p ON p.id = k.platform_id
  GROUP BY p.name ORDER BY p.name)
UNION ALL
(SELECT 'sitr_stats_blocks', format('platform="%s"', p.name), sum(b.count)::float8
   FROM platform_blocked_days b JOIN platforms p ON p.id = b.platform_id
  GROUP BY p.name ORDER BY p.name)
UNION ALL
(SELECT 'sitr_stats_takedowns', format('platform="%s",status="%s"', p.name, t.status),
        sum(t.takedowns)::float8
   FROM takedown_month_counts t JOIN platforms p ON p.id = t.platform_id
  GROUP BY p.name, t.status ORDER BY p.name, t.status)
UNION ALL
(SELECT 'sitr_stats_takedown_answer_seconds', format('platform="%s",quantile="%s"', p.name, q.q),
        round(percentile_cont(q.q) WITHIN GROUP (ORDER BY a.seconds))::float8
   FROM takedown_answer_seconds a JOIN platforms p ON p.id = a.platform_id
   CROSS JOIN (VALUES (0.5::float8), (0.9::float8)) q(q)
  WHERE a.month = date_trunc('month', now() AT TIME ZONE 'UTC')::date
  GROUP BY p.name, q.q ORDER BY p.name, q.q)
$$;
