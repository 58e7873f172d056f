-- sitr schema, version 6: a withdrawal erases the links too (issue 14).
--
-- Until now a withdrawal erased the case's hashes but kept its matches and
-- takedowns.  Those rows join the withdrawn case's images to the platforms'
-- uploads, whose hashes are copies of the victim's (an exact copy has the
-- victim's SHA-256 and a PDQ at distance 0): anyone reading the database
-- got the withdrawn hashes back through one join.  Times relink as well: a
-- takedown created a second after an upload, a match_found event of the
-- case at that second, a change-log row takedown_created right after
-- upload_added.
--
-- Now sitr_case_withdraw deletes every row that ties the case to an upload:
-- its matches, its takedowns with their history and webhook deliveries, the
-- change-log rows that named those takedowns, and the case's timeline
-- events about matches and takedowns.  What stays says only that a case
-- existed, when, how many images it had, when it was withdrawn, the
-- uploads blocked per platform and day (no upload is ever named there),
-- and three counts kept on the case row for the poisoning statistics
-- (takedowns requested, rejected and removed).  Uploads matched only to
-- the withdrawn case are, after this, matched to nothing: a later case with
-- the same picture matches them again.  Platforms' pending takedowns of the
-- case leave their pending list; answering one is a 404.

ALTER TABLE cases ADD COLUMN withdrawn_takedowns integer CHECK (withdrawn_takedowns >= 0);
ALTER TABLE cases ADD COLUMN withdrawn_rejected integer CHECK (withdrawn_rejected >= 0);
ALTER TABLE cases ADD COLUMN withdrawn_removed integer CHECK (withdrawn_removed >= 0);

-- Deletes every row that links case p_case_id to an upload, after keeping
-- the counts of its takedowns on the case row.  For sitr_case_withdraw
-- (and, once, for the cases withdrawn before this migration).
CREATE FUNCTION sitr_case_unlink(p_case_id bigint) RETURNS void
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

-- DELETE /v1/cases/{case}: as in 0003 (hashes, variants and frames erased
-- in one transaction), and every row linking the case to an upload
-- deleted (sitr_case_unlink); no takedown is left to cancel.
CREATE OR REPLACE FUNCTION sitr_case_withdraw(p_case_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_withdrawn timestamptz;
    v_ids       bigint[];
    v_vids      bigint[];
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
    PERFORM sitr_case_unlink(p_case_id);
    INSERT INTO case_events (case_id, kind, count)
    VALUES (p_case_id, 'case_withdrawn', cardinality(v_ids) + cardinality(v_vids));
    PERFORM sitr_change_log('case_image_removed', v_ids);
    PERFORM sitr_change_log('case_video_removed', v_vids);
    PERFORM sitr_change_log('case_withdrawn', ARRAY[p_case_id]);
    RETURN true;
END $$;

-- Operator statistics against poisoning: per case, how many takedowns the
-- platforms rejected, withdrawn cases included (their counts were kept on
-- the case row when their takedowns were deleted).
CREATE OR REPLACE VIEW case_rejection_stats AS
SELECT c.id AS case_id, c.reference,
       count(t.id) + coalesce(c.withdrawn_takedowns, 0) AS takedowns,
       count(t.id) FILTER (WHERE t.status = 'rejected') + coalesce(c.withdrawn_rejected, 0)
           AS rejected,
       count(t.id) FILTER (WHERE t.status = 'removed') + coalesce(c.withdrawn_removed, 0)
           AS removed
  FROM cases c LEFT JOIN takedowns t ON t.case_id = c.id
 GROUP BY c.id, c.reference
HAVING count(t.id) + coalesce(c.withdrawn_takedowns, 0) > 0;

-- Cases withdrawn before this migration: their links go now.
DO $$
BEGIN
    PERFORM sitr_case_unlink(id) FROM cases WHERE withdrawn_at IS NOT NULL ORDER BY id;
END $$;
