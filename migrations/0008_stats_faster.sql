-- sitr schema, version 8: the transparency figures of 0007, computed in a
-- fraction of the time (issue 12).
--
-- Measured on 100,000 cases, 200,000 images, 500,000 case_blocks rows and
-- 50,000 takedowns with their history (the shared 2-core machine, load
-- 10 to 13, so only the ratios mean much): the gauges' query took 2.8 to
-- 4.3 s and `sitr-admin stats` over 12 months 9.8 to 12.6 s; with this
-- migration 1.4 to 1.8 s and 4.5 to 7.2 s.  Three causes, fixed here:
--
-- * Blocks per platform were summed through case_blocked_days, which
--   groups by case first (4.8 s alone): platform_blocked_days sums
--   case_blocks and the old upload_blocked events per (platform, day)
--   directly (0.3 s).
-- * takedown_answer_seconds found each takedown's first answer with a
--   lateral subquery per takedown (1.5 s); it now groups the history once
--   and joins (0.3 s; same columns, so the view is replaced in place).
-- * sitr_stats counted cases and held items with one scan per month, and
--   its CTEs read by correlated subqueries could be inlined and computed
--   again per month and platform.  Each table is now read once, grouped by
--   month (held at a month's end = created up to that month minus erased
--   up to it), and every CTE is MATERIALIZED.
--
-- The figures are the same (the stats_e2e test, and the 12-month output on
-- the data above compared byte for byte before and after).

-- Seconds to the first answer, as in 0007, the history grouped once for
-- all takedowns.  (takedown_answer_times stays as it is: sitr_case_unlink
-- reads it for one case's few takedowns, where a lookup per takedown is
-- the cheap way.)
CREATE OR REPLACE VIEW takedown_answer_seconds AS
SELECT t.platform_id, date_trunc('month', t.created_at AT TIME ZONE 'UTC')::date AS month,
       greatest(round(extract(epoch FROM a.at - t.created_at)), 0)::bigint AS seconds
  FROM takedowns t
  JOIN (SELECT h.takedown_id, min(h.created_at) AS at FROM takedown_history h
         WHERE h.status IN ('removed', 'rejected', 'not_found')
         GROUP BY h.takedown_id) a ON a.takedown_id = t.id
UNION ALL
SELECT platform_id, month, seconds FROM withdrawn_takedown_answers;

-- Blocks per (platform, UTC day): case_blocks and the old per-request
-- events folded in 0004, summed without going through each case
-- (case_blocked_days groups by case first, which costs seconds on a
-- large table).
CREATE VIEW platform_blocked_days AS
SELECT b.platform_id, b.day, sum(b.count)::bigint AS count
  FROM (SELECT platform_id, day, count FROM case_blocks
        UNION ALL
        SELECT platform_id, (created_at AT TIME ZONE 'UTC')::date, count FROM case_events
         WHERE kind = 'upload_blocked' AND platform_id IS NOT NULL) b
 GROUP BY b.platform_id, b.day;

-- `sitr-admin stats`: the same document as in 0007, each table read once.
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
    -- it; each table is read once, grouped by month, whatever the range.
    -- The CTEs are materialized: the per-month and per-platform subqueries
    -- below read them many times.
    WITH months AS (
        SELECT g::date AS month
          FROM generate_series(v_from::timestamp, v_to::timestamp, interval '1 month') g
    ), opened AS MATERIALIZED (
        SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS month, count(*) AS n
          FROM cases WHERE created_at < now() GROUP BY 1
    ), withdrawn AS MATERIALIZED (
        SELECT date_trunc('month', withdrawn_at AT TIME ZONE 'UTC')::date AS month, count(*) AS n
          FROM cases WHERE withdrawn_at < now() GROUP BY 1
    ), items AS MATERIALIZED (
        SELECT 'image' AS kind, date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS month,
               count(*) AS n
          FROM case_images WHERE created_at < now() GROUP BY 2
        UNION ALL
        SELECT 'image', date_trunc('month', erased_at AT TIME ZONE 'UTC')::date, -count(*)
          FROM case_images WHERE erased_at < now() GROUP BY 2
        UNION ALL
        SELECT 'video', date_trunc('month', created_at AT TIME ZONE 'UTC')::date, count(*)
          FROM case_videos WHERE created_at < now() GROUP BY 2
        UNION ALL
        SELECT 'video', date_trunc('month', erased_at AT TIME ZONE 'UTC')::date, -count(*)
          FROM case_videos WHERE erased_at < now() GROUP BY 2
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
                'opened', coalesce((SELECT o.n FROM opened o WHERE o.month = mo.month), 0),
                'withdrawn', coalesce((SELECT w.n FROM withdrawn w WHERE w.month = mo.month), 0)),
            'held', jsonb_build_object(
                'images', (SELECT coalesce(sum(i.n), 0) FROM items i
                            WHERE i.kind = 'image' AND i.month <= mo.month),
                'videos', (SELECT coalesce(sum(i.n), 0) FROM items i
                            WHERE i.kind = 'video' AND i.month <= mo.month)),
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

-- sitrd's sitr_stats_* gauges: as in 0007, blocks through
-- platform_blocked_days.
CREATE OR REPLACE FUNCTION sitr_stats_gauges()
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
