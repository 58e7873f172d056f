-- sitr schema, version 12: staged imports, published once every replica
-- prepared them (issue 12: every replica matches a 1M-line import within
-- 1 s of its publication).
--
-- Until now `sitr-admin import` committed its rows and one 'import_added'
-- change row, and every replica then spent seconds copying the images and
-- rebuilding its index while matching without them.  An import now has two
-- phases:
--
-- 1. Staging.  sitr_source_import (same signature and answer as 0009)
--    stores the rows exactly as before, but the imports row has
--    published_at NULL and the one change row is 'import_staged'.  A staged
--    import is matched by no one: index_case_images (the replicas' full
--    load, their 'import_added' reads and the matcher's) leaves it out, and
--    so do the figures (sitr_stats, sitr_stats_gauges, source_summary)
--    through published_cases.  A replica that reads 'import_staged' (or,
--    once ready, finds the import in staged_imports) prepares it off-line
--    (copying the case's images from case_images by case id) and says so
--    with sitr_import_prepared.  No hash leaves through the tables and views
--    of this migration.
-- 2. Publication.  sitr-admin waits until every live replica (a row of
--    replicas seen in the last 15 s, kept by sitr_replica_seen every 5 s)
--    has an import_prepared row for the case, or until its --wait runs out,
--    then calls sitr_source_publish: published_at set and one 'import_added'
--    change row, in a transaction of its own.  A replica that prepared the
--    import attaches it when it reaches that row; one that did not loads it
--    inline as before (correct, only slower).
--
-- Abandoned staged imports.  sitr-admin holds a session-level advisory lock
-- per source (class 1936290933, key hashtext(name): the source may not
-- exist before its first import, and creating it before the file is read
-- would break "a refused file changes nothing") from before staging until
-- after publishing; the lock goes with its session.  So when an import
-- holds it, any staged import of the source is abandoned (its sitr-admin
-- was interrupted or failed between the phases): sitr_source_discard_-
-- abandoned, which sitr-admin calls before staging, withdraws those cases
-- as sitr_source_withdraw does (hashes erased, one 'import_removed' row)
-- and marks them discarded.  sitr_source_import and the discard refuse to
-- run without the lock (SQLSTATE 55000), so an import being staged by a
-- live session is never discarded.  `source withdraw` erases staged imports
-- with the rest of the source.
--
-- A hash withdrawn from a staged import would leave the replicas' prepared
-- copies different from the database: sitr_source_withdraw_hash refuses it
-- with SIT05 until the import is published or discarded.
--
-- Errors raised here:
--   SIT05  an import of this source is being published; try again when it ends
--   55000  the caller does not hold the source's import lock
--
-- Advisory lock keys: 1936290933 (first of two int4 keys, the second being
-- hashtext(source name)): session lock held by `sitr-admin import`.

-- Imports, views --------------------------------------------------------------

ALTER TABLE imports ADD COLUMN published_at timestamptz; -- NULL: staged
ALTER TABLE imports ADD COLUMN discarded_at timestamptz; -- abandoned, then withdrawn
-- Every import before this migration was committed and matched at once.
UPDATE imports SET published_at = created_at;
ALTER TABLE imports ADD CONSTRAINT imports_published_or_discarded
    CHECK (published_at IS NULL OR discarded_at IS NULL);
-- The readers below anti-join on this one: a handful of rows at most.
CREATE INDEX imports_staged ON imports (case_id) WHERE published_at IS NULL;

ALTER TABLE changes DROP CONSTRAINT changes_kind_check;
ALTER TABLE changes ADD CONSTRAINT changes_kind_check CHECK (kind IN (
    'case_image_added', 'case_image_removed', 'case_video_added', 'case_video_removed',
    'case_withdrawn', 'upload_added', 'upload_removed', 'takedown_created', 'takedown_updated',
    'platform_changed',
    'import_added',     -- entity: cases.id of the import, now published (its images, read by COPY)
    'import_removed',   -- entity: cases.id (every image of the case leaves the indexes)
    'import_staged'));  -- entity: cases.id of a staged import (prepare it; match nothing yet)

-- Cases that are not an import waiting for (or denied) its publication:
-- every victim's case, every published import.  A discarded import was
-- never published and never counted.
CREATE VIEW published_cases AS
SELECT c.* FROM cases c
 WHERE NOT EXISTS (SELECT 1 FROM imports im
                    WHERE im.case_id = c.id AND im.published_at IS NULL);

-- As in 0005, staged imports left out.
CREATE OR REPLACE VIEW index_case_images AS
SELECT i.id AS image_id, i.case_id, i.pdq, i.quality, i.md5, i.sha256,
       (SELECT array_agg(v.pdq ORDER BY v.variant) FROM case_image_variants v
         WHERE v.image_id = i.id) AS variants
  FROM case_images i JOIN cases c ON c.id = i.case_id
 WHERE i.erased_at IS NULL AND c.withdrawn_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM imports im
                    WHERE im.case_id = i.case_id AND im.published_at IS NULL);

-- Staged imports a replica should prepare: not published, not discarded,
-- not withdrawn (by `source withdraw`).
CREATE VIEW staged_imports AS
SELECT im.case_id, im.source_id, im.created_at
  FROM imports im JOIN cases c ON c.id = im.case_id
 WHERE im.published_at IS NULL AND im.discarded_at IS NULL AND c.withdrawn_at IS NULL;

-- The import lock of source p_source (by name): taken (p_wait: waiting for
-- it; otherwise true only when it was free).  Session level: released by
-- pg_advisory_unlock(1936290933, hashtext(name)) or when the session ends.
CREATE FUNCTION sitr_source_lock(p_source text, p_wait boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF p_wait THEN
        PERFORM pg_advisory_lock(1936290933, hashtext(p_source));
        RETURN true;
    END IF;
    RETURN pg_try_advisory_lock(1936290933, hashtext(p_source));
END $$;

-- Raises 55000 unless this session holds the import lock of p_source.
CREATE FUNCTION sitr_source_lock_check(p_source text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_locks l
                    WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.granted
                      AND l.database = (SELECT oid FROM pg_database
                                         WHERE datname = current_database())
                      AND l.classid = 1936290933::oid
                      AND l.objid = hashtext(p_source)::oid AND l.objsubid = 2) THEN
        RAISE EXCEPTION 'the import lock of source % is not held (sitr_source_lock)', p_source
            USING ERRCODE = '55000';
    END IF;
END $$;

-- Replicas --------------------------------------------------------------------

-- Each sitrd says every 5 s that it is alive (sitr_replica_seen): its
-- instance name, host and pid, the last change it applied and whether it
-- answers matches.  sitr-admin waits for the rows seen in the last 15 s.
CREATE TABLE replicas (
    instance   text PRIMARY KEY
               CHECK (length(instance) BETWEEN 1 AND 100 AND instance !~ '[^ -~]'),
    host       text CHECK (host IS NULL OR (length(host) <= 255 AND host !~ '[^ -~]')),
    pid        int CHECK (pid IS NULL OR pid > 0),
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now(),
    applied    bigint CHECK (applied IS NULL OR applied >= 0),
    ready      boolean
);

-- Upserts the instance's row (seen now; started now when it is new or its
-- host or pid changed) and deletes the rows not seen for a day.
CREATE FUNCTION sitr_replica_seen(p_instance text, p_host text, p_pid int, p_applied bigint,
                                  p_ready boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO replicas AS r (instance, host, pid, started_at, seen_at, applied, ready)
    VALUES (p_instance, p_host, p_pid, now(), now(), p_applied, p_ready)
    ON CONFLICT (instance) DO UPDATE
       SET started_at = CASE WHEN r.host IS NOT DISTINCT FROM EXCLUDED.host
                              AND r.pid IS NOT DISTINCT FROM EXCLUDED.pid
                             THEN r.started_at ELSE now() END,
           host = EXCLUDED.host, pid = EXCLUDED.pid, seen_at = now(),
           applied = EXCLUDED.applied, ready = EXCLUDED.ready;
    DELETE FROM replicas WHERE seen_at < now() - interval '1 day';
END $$;

-- A replica's acknowledgement: it prepared staged import case_id.  The rows
-- go when the import is published, discarded or withdrawn.
CREATE TABLE import_prepared (
    case_id     bigint NOT NULL REFERENCES cases (id),
    instance    text NOT NULL
                CHECK (length(instance) BETWEEN 1 AND 100 AND instance !~ '[^ -~]'),
    prepared_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, instance)
);

-- Records that p_instance prepared p_case; idempotent.  Nothing when the
-- case is not (or no longer) a staged import.  The source's row is locked
-- (shared) first, as every function that publishes, discards or withdraws
-- locks it (exclusive) before deleting these rows: a row is never left
-- behind for an import published meanwhile.
CREATE FUNCTION sitr_import_prepared(p_case bigint, p_instance text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_src bigint;
BEGIN
    SELECT im.source_id INTO v_src FROM imports im WHERE im.case_id = p_case;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM 1 FROM sources WHERE id = v_src FOR SHARE;
    IF EXISTS (SELECT 1 FROM staged_imports s WHERE s.case_id = p_case) THEN
        INSERT INTO import_prepared (case_id, instance) VALUES (p_case, p_instance)
        ON CONFLICT (case_id, instance) DO UPDATE SET prepared_at = now();
    END IF;
END $$;

-- Staging, publication, discard -------------------------------------------------

-- As in 0009, but the import is staged: published_at NULL and one
-- 'import_staged' change row instead of 'import_added'.  The caller must
-- hold the source's import lock (sitr_source_lock), which keeps
-- sitr_source_discard_abandoned of another session away from it.  The
-- duplicates are still looked up among every live image of the source,
-- staged ones included.
CREATE OR REPLACE FUNCTION sitr_source_import(p_source text, p_format text, p_lines bigint,
                                              p_refused bigint)
RETURNS TABLE (case_id bigint, added bigint, duplicates bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_src    sources%ROWTYPE;
    v_case   bigint;
    v_staged bigint;
BEGIN
    PERFORM sitr_source_lock_check(p_source);
    INSERT INTO sources (name) VALUES (p_source) ON CONFLICT (name) DO NOTHING;
    SELECT * INTO v_src FROM sources s WHERE s.name = p_source FOR UPDATE;
    IF v_src.withdrawn_at IS NOT NULL THEN
        RAISE EXCEPTION 'source % was withdrawn', p_source USING ERRCODE = 'SIT04';
    END IF;
    SELECT count(*) INTO v_staged FROM sitr_import_rows;
    -- NULL hashes compare as '' (never a valid hash) so that both sides
    -- join on plain equality (a hash anti-join, not a nested loop).
    CREATE TEMP TABLE sitr_import_new ON COMMIT DROP AS
    SELECT nextval('case_images_id_seq') AS id, n.*
      FROM (SELECT DISTINCT ON (coalesce(r.pdq, ''), coalesce(r.md5, ''), coalesce(r.sha256, ''))
                   r.line, r.pdq, r.quality, r.md5, r.sha256, r.variants
              FROM sitr_import_rows r
             ORDER BY coalesce(r.pdq, ''), coalesce(r.md5, ''), coalesce(r.sha256, ''), r.line) n
     WHERE NOT EXISTS (
           SELECT 1 FROM case_images i JOIN cases c ON c.id = i.case_id
            WHERE c.source_id = v_src.id AND i.erased_at IS NULL
              AND coalesce(i.pdq, '') = coalesce(n.pdq, '')
              AND coalesce(i.md5, '') = coalesce(n.md5, '')
              AND coalesce(i.sha256, '') = coalesce(n.sha256, ''));
    GET DIAGNOSTICS added = ROW_COUNT;
    duplicates := v_staged - added;
    IF added = 0 THEN
        DROP TABLE sitr_import_new;
        case_id := NULL;
        RETURN NEXT;
        RETURN;
    END IF;
    v_case := nextval('cases_id_seq');
    INSERT INTO cases (id, reference, secret_digest, source_id)
    VALUES (v_case, 'import-' || v_case, NULL, v_src.id);
    INSERT INTO case_images (id, case_id, pdq, quality, md5, sha256)
    SELECT n.id, v_case, n.pdq, n.quality, n.md5, n.sha256 FROM sitr_import_new n ORDER BY n.id;
    INSERT INTO case_image_variants (image_id, variant, pdq)
    SELECT n.id, v.k, substring(n.variants FROM (v.k - 1) * 32 + 1 FOR 32)
      FROM sitr_import_new n, generate_series(1, octet_length(n.variants) / 32) AS v(k)
     WHERE n.variants IS NOT NULL;
    DROP TABLE sitr_import_new;
    INSERT INTO case_events (case_id, kind, count)
    VALUES (v_case, 'case_created', least(added, 2147483647)::int);
    INSERT INTO imports (case_id, source_id, format, lines, added, duplicates, refused)
    VALUES (v_case, v_src.id, p_format, p_lines, added, duplicates, p_refused);
    PERFORM sitr_change_log('import_staged', ARRAY[v_case]);
    case_id := v_case;
    RETURN NEXT;
END $$;

-- Publishes staged import p_case: published_at set, its acknowledgements
-- deleted, one 'import_added' change row (every replica matches it from
-- then on).  False, and nothing changed, when p_case is not a staged
-- import (unknown, already published, discarded, or withdrawn meanwhile).
-- The source's row is locked first, as every function here does.
CREATE FUNCTION sitr_source_publish(p_case bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_src bigint;
BEGIN
    SELECT im.source_id INTO v_src FROM imports im WHERE im.case_id = p_case;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM 1 FROM sources WHERE id = v_src FOR UPDATE;
    UPDATE imports im SET published_at = now()
      FROM cases c
     WHERE im.case_id = p_case AND c.id = im.case_id
       AND im.published_at IS NULL AND im.discarded_at IS NULL AND c.withdrawn_at IS NULL;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM import_prepared WHERE case_id = p_case;
    PERFORM sitr_change_log('import_added', ARRAY[p_case]);
    RETURN true;
END $$;

-- Withdraws import case p_case as a victim's withdrawal does
-- (sitr_case_withdraw, whatever its latest definition) and replaces the
-- per-image 'case_image_removed' rows it logged by one 'import_removed':
-- they are this transaction's own rows (the change-log writers' lock is
-- taken first and held to commit, so every row above v_before is ours).
-- Its acknowledgements go too.  The images erased, or NULL when the case
-- was already withdrawn.  The caller holds the source's row lock.
CREATE FUNCTION sitr_import_erase(p_case bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_before bigint;
    v_n      bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1936290930);
    SELECT coalesce(max(seq), 0) INTO v_before FROM changes;
    SELECT count(*) INTO v_n FROM case_images i WHERE i.case_id = p_case AND i.erased_at IS NULL;
    IF NOT sitr_case_withdraw(p_case) THEN
        RETURN NULL;
    END IF;
    DELETE FROM changes WHERE seq > v_before AND kind = 'case_image_removed';
    PERFORM sitr_change_log('import_removed', ARRAY[p_case]);
    DELETE FROM import_prepared WHERE case_id = p_case;
    RETURN v_n;
END $$;

-- `sitr-admin import`, holding the source's import lock, before staging:
-- every staged import of the source that is neither discarded nor
-- withdrawn was abandoned (no live import holds the lock: this one does)
-- and is withdrawn with sitr_import_erase, and marked discarded.  Returns
-- how many; 0 for an unknown source.
CREATE FUNCTION sitr_source_discard_abandoned(p_source text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_src  bigint;
    v_case bigint;
    v_n    int := 0;
BEGIN
    PERFORM sitr_source_lock_check(p_source);
    SELECT s.id INTO v_src FROM sources s WHERE s.name = p_source FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    FOR v_case IN SELECT s.case_id FROM staged_imports s
                   WHERE s.source_id = v_src ORDER BY s.case_id
    LOOP
        IF sitr_import_erase(v_case) IS NOT NULL THEN
            UPDATE imports SET discarded_at = now() WHERE case_id = v_case;
            v_n := v_n + 1;
        END IF;
    END LOOP;
    RETURN v_n;
END $$;

-- As in 0009, through sitr_import_erase (which also deletes the
-- acknowledgements of a staged import it withdraws).  Staged imports are
-- cases of the source like the others: withdrawn too, with one
-- 'import_removed' row each.
CREATE OR REPLACE FUNCTION sitr_source_withdraw(p_source text, OUT cases_withdrawn int,
                                                OUT images_erased bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_src  sources%ROWTYPE;
    v_case bigint;
    v_n    bigint;
BEGIN
    cases_withdrawn := 0;
    images_erased := 0;
    SELECT * INTO v_src FROM sources s WHERE s.name = p_source FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such source' USING ERRCODE = 'SIT03';
    END IF;
    IF v_src.withdrawn_at IS NOT NULL THEN
        RETURN;
    END IF;
    UPDATE sources SET withdrawn_at = now() WHERE id = v_src.id;
    PERFORM pg_advisory_xact_lock(1936290930);
    FOR v_case IN SELECT c.id FROM cases c
                   WHERE c.source_id = v_src.id AND c.withdrawn_at IS NULL ORDER BY c.id
    LOOP
        v_n := sitr_import_erase(v_case);
        IF v_n IS NOT NULL THEN
            cases_withdrawn := cases_withdrawn + 1;
            images_erased := images_erased + v_n;
        END IF;
    END LOOP;
END $$;

-- As in 0011, an image of a staged import refused with SIT05.
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
    -- Replicas may hold a prepared copy of a staged import: it must stay
    -- what the database holds until the publication.
    IF EXISTS (SELECT 1 FROM imports im
                WHERE im.case_id = ANY (v_cases) AND im.published_at IS NULL) THEN
        RAISE EXCEPTION 'an import of this source is being published; try again when it ends'
            USING ERRCODE = 'SIT05';
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

-- `sitr-admin source list`: as in 0009, published imports only, and a
-- last column: the staged imports (stored, waiting for their publication
-- or abandoned until the source's next import discards them).
CREATE OR REPLACE VIEW source_summary AS
SELECT s.name, s.created_at, s.withdrawn_at,
       (SELECT count(*) FROM imports im
         WHERE im.source_id = s.id AND im.published_at IS NOT NULL) AS imports,
       (SELECT count(*) FROM case_images i JOIN published_cases c ON c.id = i.case_id
         WHERE c.source_id = s.id AND i.erased_at IS NULL) AS images,
       (SELECT max(im.published_at) FROM imports im WHERE im.source_id = s.id) AS last_import_at,
       (SELECT count(*) FROM staged_imports si WHERE si.source_id = s.id) AS staged
  FROM sources s;

-- Figures ---------------------------------------------------------------------

-- `sitr-admin stats`: as in 0011, through published_cases.
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
          FROM published_cases WHERE created_at < now() GROUP BY 1, 2
    ), withdrawn AS MATERIALIZED (
        SELECT coalesce(source_id, 0) AS source_id,
               date_trunc('month', withdrawn_at AT TIME ZONE 'UTC')::date AS month, count(*) AS n
          FROM published_cases WHERE withdrawn_at < now() GROUP BY 1, 2
    ), items AS MATERIALIZED (
        SELECT coalesce(c.source_id, 0) AS source_id, 'image' AS kind,
               date_trunc('month', i.created_at AT TIME ZONE 'UTC')::date AS month, count(*) AS n
          FROM case_images i JOIN published_cases c ON c.id = i.case_id
         WHERE i.created_at < now() GROUP BY 1, 3
        UNION ALL
        SELECT coalesce(c.source_id, 0), 'image',
               date_trunc('month', i.erased_at AT TIME ZONE 'UTC')::date, -count(*)
          FROM case_images i JOIN published_cases c ON c.id = i.case_id
         WHERE i.erased_at < now() GROUP BY 1, 3
        UNION ALL
        SELECT coalesce(c.source_id, 0), 'video',
               date_trunc('month', v.created_at AT TIME ZONE 'UTC')::date, count(*)
          FROM case_videos v JOIN published_cases c ON c.id = v.case_id
         WHERE v.created_at < now() GROUP BY 1, 3
        UNION ALL
        SELECT coalesce(c.source_id, 0), 'video',
               date_trunc('month', v.erased_at AT TIME ZONE 'UTC')::date, -count(*)
          FROM case_videos v JOIN published_cases c ON c.id = v.case_id
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

-- sitrd's sitr_stats_* gauges: as in 0011, through published_cases.
CREATE OR REPLACE FUNCTION sitr_stats_gauges()
RETURNS TABLE (metric text, labels text, value double precision)
LANGUAGE sql STABLE AS $$
SELECT 'sitr_stats_cases', 'state="open"', count(*)::float8 FROM published_cases
 WHERE withdrawn_at IS NULL AND source_id IS NULL
UNION ALL
SELECT 'sitr_stats_cases', 'state="withdrawn"', count(*)::float8 FROM published_cases
 WHERE withdrawn_at IS NOT NULL AND source_id IS NULL
UNION ALL
SELECT 'sitr_stats_held', 'kind="image"', count(*)::float8
  FROM case_images i JOIN published_cases c ON c.id = i.case_id
 WHERE i.erased_at IS NULL AND c.source_id IS NULL
UNION ALL
SELECT 'sitr_stats_held', 'kind="video"', count(*)::float8
  FROM case_videos v JOIN published_cases c ON c.id = v.case_id
 WHERE v.erased_at IS NULL AND c.source_id IS NULL
UNION ALL
(SELECT 'sitr_stats_source_held', format('source="%s",kind="%s"', s.name, x.kind), sum(x.n)::float8
   FROM sources s
   JOIN (SELECT c.source_id, 'image' AS kind, count(*) AS n
           FROM case_images i JOIN published_cases c ON c.id = i.case_id
          WHERE i.erased_at IS NULL AND c.source_id IS NOT NULL GROUP BY 1
         UNION ALL
         SELECT c.source_id, 'video', count(*)
           FROM case_videos v JOIN published_cases c ON c.id = v.case_id
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
