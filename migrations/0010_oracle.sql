-- sitr schema, version 10: the match oracle's budget shared by the replicas
-- (issue 14; service/api/oracle.h, docs/SECURITY.md "The match oracle").
--
-- Each sitrd counts, per (platform, case image or case video), the distinct
-- query hashes that matched, as keyed digests (BLAKE2b-128 under the digest
-- key, bound to the platform and the case item: never the hash, which near
-- a victim's hash is as sensitive as hers).  Every second it sends the new
-- digests here through sitr_oracle_sync, which also opens an alert for a
-- pair whose distinct digests, over every replica, pass the budget (or that
-- a replica suspended on its own count), and answers the open alerts: so
-- every replica withholds a suspended pair within about a second.
--
-- A case item erased (withdrawal, image removal) loses its digests at once
-- and its alerts lose the link to it (trigger below): nothing left can tie
-- a platform's queries to a withdrawn case.  The digest column gets no
-- planner statistics (as 0005 does for hashes).

CREATE TABLE oracle_probes (
    platform_id bigint NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
    video       boolean NOT NULL,          -- target: case_videos.id when true, else case_images.id
    target_id   bigint NOT NULL,
    digest      bytea NOT NULL CHECK (octet_length(digest) = 16),
    first_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform_id, video, target_id, digest)
);
ALTER TABLE oracle_probes ALTER COLUMN digest SET STATISTICS 0;

CREATE TABLE oracle_alerts (
    id          bigserial PRIMARY KEY,
    platform_id bigint NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
    video       boolean NOT NULL,
    target_id   bigint,                     -- NULL once the case item is erased
    queries     integer NOT NULL CHECK (queries >= 0), -- distinct digests known when opened
    created_at  timestamptz NOT NULL DEFAULT now(),
    cleared_at  timestamptz,
    CHECK (cleared_at IS NULL OR cleared_at >= created_at)
);
-- At most one open alert per pair.
CREATE UNIQUE INDEX oracle_alerts_open ON oracle_alerts (platform_id, video, target_id)
    WHERE cleared_at IS NULL AND target_id IS NOT NULL;

-- One replica's second: its new digests (p_*), the pairs it suspended on
-- its own count (a_*), the budget; opens the alerts due and answers every
-- open alert.
CREATE FUNCTION sitr_oracle_sync(p_platform bigint[], p_video boolean[], p_target bigint[],
                                 p_digest text[], a_platform bigint[], a_video boolean[],
                                 a_target bigint[], p_budget integer)
RETURNS TABLE (alert_id bigint, platform_id bigint, video boolean, target_id bigint,
               fresh boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_new bigint[];
BEGIN
    INSERT INTO oracle_probes AS o (platform_id, video, target_id, digest)
    SELECT t.p, t.v, t.t, decode(t.d, 'hex')
      FROM unnest(p_platform, p_video, p_target, p_digest) AS t(p, v, t, d)
      JOIN platforms pl ON pl.id = t.p
     ORDER BY 1, 2, 3, 4
    ON CONFLICT DO NOTHING;
    WITH due AS (
        SELECT o.platform_id, o.video, o.target_id, count(*)::int AS n
          FROM oracle_probes o
          JOIN (SELECT DISTINCT t.p, t.v, t.t
                  FROM unnest(p_platform, p_video, p_target) AS t(p, v, t)) s
            ON s.p = o.platform_id AND s.v = o.video AND s.t = o.target_id
         GROUP BY 1, 2, 3
        HAVING count(*) > p_budget
        UNION
        SELECT t.p, t.v, t.t,
               (SELECT count(*)::int FROM oracle_probes o
                 WHERE o.platform_id = t.p AND o.video = t.v AND o.target_id = t.t)
          FROM unnest(a_platform, a_video, a_target) AS t(p, v, t)
          JOIN platforms pl ON pl.id = t.p
    )
    , ins AS (
        INSERT INTO oracle_alerts (platform_id, video, target_id, queries)
        SELECT d.platform_id, d.video, d.target_id, max(d.n)
          FROM due d
         GROUP BY 1, 2, 3
        ON CONFLICT DO NOTHING
        RETURNING id
    )
    SELECT coalesce(array_agg(id), '{}') INTO v_new FROM ins;
    RETURN QUERY
    SELECT a.id, a.platform_id, a.video, a.target_id, a.id = ANY (v_new)
      FROM oracle_alerts a
     WHERE a.cleared_at IS NULL AND a.target_id IS NOT NULL;
END $$;

-- sitr-admin alerts clear ID: the pair is answered again, with a fresh
-- budget (its digests deleted).  Returns false when no such open alert.
CREATE FUNCTION sitr_oracle_clear(p_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v oracle_alerts%ROWTYPE;
BEGIN
    UPDATE oracle_alerts SET cleared_at = now()
     WHERE id = p_id AND cleared_at IS NULL
    RETURNING * INTO v;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM oracle_probes
     WHERE platform_id = v.platform_id AND video = v.video AND target_id = v.target_id;
    RETURN true;
END $$;

-- Erasure: a case image or video erased (or deleted) takes its digests
-- with it and leaves its alerts without a target.
CREATE FUNCTION sitr_oracle_forget() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_video boolean := TG_TABLE_NAME = 'case_videos';
BEGIN
    DELETE FROM oracle_probes WHERE video = v_video AND target_id = OLD.id;
    UPDATE oracle_alerts SET target_id = NULL WHERE video = v_video AND target_id = OLD.id;
    RETURN NULL;
END $$;

CREATE TRIGGER case_images_oracle_forget
    AFTER UPDATE OF erased_at ON case_images
    FOR EACH ROW WHEN (OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL)
    EXECUTE FUNCTION sitr_oracle_forget();
CREATE TRIGGER case_images_oracle_forget_delete
    AFTER DELETE ON case_images
    FOR EACH ROW EXECUTE FUNCTION sitr_oracle_forget();
CREATE TRIGGER case_videos_oracle_forget
    AFTER UPDATE OF erased_at ON case_videos
    FOR EACH ROW WHEN (OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL)
    EXECUTE FUNCTION sitr_oracle_forget();
CREATE TRIGGER case_videos_oracle_forget_delete
    AFTER DELETE ON case_videos
    FOR EACH ROW EXECUTE FUNCTION sitr_oracle_forget();
