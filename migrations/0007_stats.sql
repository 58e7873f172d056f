-- sitr schema, version 7: figures for transparency reports (issue 12).
--
-- `sitr-admin stats` and sitrd's sitr_stats_* gauges report, per UTC month:
-- cases opened and withdrawn, images and videos held, match checks and
-- blocks per platform, takedowns by outcome per platform, and the median
-- and 90th percentile of the time from a takedown request to the
-- platform's first answer.  Never a case reference, a hash or an upload.
--
-- What the schema kept already: a case row keeps its creation and
-- withdrawal dates, and an image or video row its creation and erasure
-- dates (hashes erased), so cases and items held are counted from them.
-- Blocks are kept per (item, platform, day) after a withdrawal (0004,
-- 0006).  Two things were missing:
--
-- * Match checks were only in-memory counters of each replica.  sitrd now
--   counts them per (platform, UTC day) in memory (service/api/checks.c)
--   and adds the counts to platform_checks every second, in batches, as
--   the block writer does (sitr_checks_record).
--
-- * A withdrawal deletes the case's takedowns and their history (0006), so
--   the takedowns a platform answered for a withdrawn case would vanish
--   from every figure.  sitr_case_unlink now first adds them to two tables
--   that name no case, no upload and no time finer than the month of the
--   request: withdrawn_takedown_counts (how many per platform, month and
--   outcome; a takedown still pending counts as cancelled, as the case is
--   gone) and withdrawn_takedown_answers (one row per answered takedown:
--   platform, month, seconds to the first answer, for the percentiles).
--   Takedowns of cases withdrawn before this migration were deleted
--   already; only their totals per case remain (case_rejection_stats).

CREATE TABLE platform_checks (
    platform_id bigint NOT NULL REFERENCES platforms (id),
    day         date NOT NULL,
    checks      bigint NOT NULL CHECK (checks >= 0),
    PRIMARY KEY (platform_id, day)
);

CREATE TABLE withdrawn_takedown_counts (
    platform_id bigint NOT NULL REFERENCES platforms (id),
    month       date NOT NULL CHECK (extract(day FROM month) = 1),
    status      text NOT NULL CHECK (status IN ('removed', 'rejected', 'not_found', 'cancelled')),
    takedowns   bigint NOT NULL CHECK (takedowns > 0),
    PRIMARY KEY (platform_id, month, status)
);

CREATE TABLE withdrawn_takedown_answers (
    platform_id bigint NOT NULL REFERENCES platforms (id),
    month       date NOT NULL CHECK (extract(day FROM month) = 1),
    seconds     bigint NOT NULL CHECK (seconds >= 0)
);
CREATE INDEX withdrawn_takedown_answers_month ON withdrawn_takedown_answers (month, platform_id);

-- The check writer's batch (service/api/checks.c): element k of every array
-- is one aggregate: platform, day (days since 1970-01-01, UTC), n (checks).
-- Each is added to its (platform, day) row; a platform that does not exist
-- is skipped.  Rows are taken in key order (two replicas never deadlock).
-- Returns the number of rows written.
CREATE FUNCTION sitr_checks_record(p_platforms bigint[], p_days int[], p_counts bigint[])
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_n int;
BEGIN
    IF cardinality(p_platforms) IS DISTINCT FROM cardinality(p_days)
       OR cardinality(p_platforms) IS DISTINCT FROM cardinality(p_counts) THEN
        RAISE EXCEPTION 'arrays of different lengths' USING ERRCODE = '22023';
    END IF;
    WITH x AS (
        SELECT t.platform_id, t.day, sum(t.n) AS n
          FROM unnest(p_platforms, p_days, p_counts) AS t(platform_id, day, n)
         WHERE t.n > 0
         GROUP BY t.platform_id, t.day
    ), ins AS (
        INSERT INTO platform_checks (platform_id, day, checks)
        SELECT x.platform_id, date '1970-01-01' + x.day, x.n
          FROM x JOIN platforms p ON p.id = x.platform_id
         ORDER BY x.platform_id, x.day
        ON CONFLICT (platform_id, day) DO UPDATE SET checks = platform_checks.checks + EXCLUDED.checks
        RETURNING 1
    )
    SELECT count(*) INTO v_n FROM ins;
    RETURN v_n;
END $$;

-- The first answer of each takedown still held: platform, month of the
-- request (UTC), seconds from the request to the first removed, rejected or
-- not_found entry of its history.
CREATE VIEW takedown_answer_times AS
SELECT t.id AS takedown_id, t.platform_id,
       date_trunc('month', t.created_at AT TIME ZONE 'UTC')::date AS month,
       t.created_at,
       greatest(round(extract(epoch FROM a.at - t.created_at)), 0)::bigint AS seconds
  FROM takedowns t
  JOIN LATERAL (SELECT min(h.created_at) AS at FROM takedown_history h
                 WHERE h.takedown_id = t.id AND h.status IN ('removed', 'rejected', 'not_found'))
       a ON a.at IS NOT NULL;

-- As in 0006, and before anything is deleted, the case's takedowns are
-- added to withdrawn_takedown_counts and withdrawn_takedown_answers.
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
    INSERT INTO withdrawn_takedown_counts AS w (platform_id, month, status, takedowns)
    SELECT t.platform_id, date_trunc('month', t.created_at AT TIME ZONE 'UTC')::date,
           CASE WHEN t.status = 'pending' THEN 'cancelled' ELSE t.status END, count(*)
      FROM takedowns t WHERE t.id = ANY (v_td)
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3
    ON CONFLICT (platform_id, month, status)
    DO UPDATE SET takedowns = w.takedowns + EXCLUDED.takedowns;
    INSERT INTO withdrawn_takedown_answers (platform_id, month, seconds)
    SELECT a.platform_id, a.month, a.seconds
      FROM takedown_answer_times a WHERE a.takedown_id = ANY (v_td)
     ORDER BY a.platform_id, a.month, a.seconds;
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

-- Takedowns per (platform, month of the request, outcome), those of
-- withdrawn cases included.
CREATE VIEW takedown_month_counts AS
SELECT x.platform_id, x.month, x.status, sum(x.n)::bigint AS takedowns
  FROM (SELECT t.platform_id, date_trunc('month', t.created_at AT TIME ZONE 'UTC')::date AS month,
               t.status, count(*) AS n
          FROM takedowns t GROUP BY 1, 2, 3
        UNION ALL
        SELECT w.platform_id, w.month, w.status, w.takedowns FROM withdrawn_takedown_counts w) x
 GROUP BY 1, 2, 3;

-- Seconds to the first answer, one row per answered takedown, withdrawn
-- cases' included.
CREATE VIEW takedown_answer_seconds AS
SELECT platform_id, month, seconds FROM takedown_answer_times
UNION ALL
SELECT platform_id, month, seconds FROM withdrawn_takedown_answers;

-- `sitr-admin stats`: the figures of every UTC month from p_from's to
-- p_to's (at most 600 months, none after the current one), as
-- {"from": "YYYY-MM", "to": "YYYY-MM", "months": [{"month": "YYYY-MM",
--   "cases": {"opened", "withdrawn"},
--   "held": {"images", "videos"},          -- at the end of the month (now
--                                          -- for the current one)
--   "platforms": [{"platform": name, "checks", "blocks",
--                  "takedowns": {"requested", "pending", "removed",
--                                "rejected", "not_found", "cancelled"},
--                  "answer_seconds": {"answered", "median", "p90"}}]}]}
-- A platform is listed in a month when it has any figure there; takedowns
-- and answer times count in the month of the request; median and p90 are
-- null when no takedown of that month was answered.
CREATE FUNCTION sitr_stats(p_from date, p_to date) RETURNS jsonb
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
    WITH months AS (
        SELECT g::date AS month, g AT TIME ZONE 'UTC' AS t0,
               least((g + interval '1 month') AT TIME ZONE 'UTC', now()) AS t1
          FROM generate_series(v_from::timestamp, v_to::timestamp, interval '1 month') g
    ), checks AS (
        SELECT platform_id, date_trunc('month', day::timestamp)::date AS month,
               sum(checks)::bigint AS n
          FROM platform_checks
         WHERE day >= v_from AND day < (v_to + interval '1 month')::date
         GROUP BY 1, 2
    ), blocks AS (
        SELECT platform_id, date_trunc('month', day::timestamp)::date AS month,
               sum(count)::bigint AS n
          FROM case_blocked_days
         WHERE day >= v_from AND day < (v_to + interval '1 month')::date
         GROUP BY 1, 2
    ), tds AS (
        SELECT * FROM takedown_month_counts WHERE month BETWEEN v_from AND v_to
    ), answers AS (
        SELECT * FROM takedown_answer_seconds WHERE month BETWEEN v_from AND v_to
    ), pm AS (
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
                'opened', (SELECT count(*) FROM cases c
                            WHERE c.created_at >= mo.t0 AND c.created_at < mo.t1),
                'withdrawn', (SELECT count(*) FROM cases c
                               WHERE c.withdrawn_at >= mo.t0 AND c.withdrawn_at < mo.t1)),
            'held', jsonb_build_object(
                'images', (SELECT count(*) FROM case_images i
                            WHERE i.created_at < mo.t1
                              AND (i.erased_at IS NULL OR i.erased_at >= mo.t1)),
                'videos', (SELECT count(*) FROM case_videos v
                            WHERE v.created_at < mo.t1
                              AND (v.erased_at IS NULL OR v.erased_at >= mo.t1))),
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

-- sitrd's sitr_stats_* gauges (service/jobs/stats.c), all time except the
-- answer times (takedowns requested in the current UTC month, as the
-- current month's row of sitr_stats): one row per sample, its metric name,
-- its Prometheus labels (platform names allow only [A-Za-z0-9._-], nothing
-- to escape) and its value.
CREATE FUNCTION sitr_stats_gauges()
RETURNS TABLE (metric text, labels text, value double precision)
LANGUAGE sql STABLE AS $$
SELECT 'sitr_stats_cases', 'state="open"', count(*)::float8 FROM cases WHERE withdrawn_at IS NULL
UNION ALL
SELECT 'sitr_stats_cases', 'state="withdrawn"', count(*)::float8 FROM cases
 WHERE withdrawn_at IS NOT NULL
UNION ALL
SELECT 'sitr_stats_held', 'kind="image"', count(*)::float8 FROM case_images WHERE erased_at IS NULL
UNION ALL
SELECT 'sitr_stats_held', 'kind="video"', count(*)::float8 FROM case_videos WHERE erased_at IS NULL
UNION ALL
(SELECT 'sitr_stats_checks', format('platform="%s"', p.name), sum(k.checks)::float8
   FROM platform_checks k JOIN platforms p ON p.id = k.platform_id
  GROUP BY p.name ORDER BY p.name)
UNION ALL
(SELECT 'sitr_stats_blocks', format('platform="%s"', p.name), sum(b.count)::float8
   FROM case_blocked_days b JOIN platforms p ON p.id = b.platform_id
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
