-- sitr schema, version 9: partner hash lists (issue 12).
--
-- A helpline that already holds victims' hashes loads them with
-- `sitr-admin import --source NAME FILE`.  The list's owner is a *source*
-- (sources), and each import that adds something is one case owned by it
-- (cases.source_id, no victim secret: secret_digest is NULL exactly for
-- those cases, so no one can open them through the victims' API), whose
-- images are ordinary case_images: /v1/match, /v1/uploads (the matcher)
-- and /m/lookup match them like a victim's, platforms see only opaque refs,
-- and their hash columns have no planner statistics (0005).
--
-- Replicas: a million 'case_image_added' rows followed one by one would
-- take minutes, so an import logs ONE change row, 'import_added', naming
-- the import's case; a replica that reaches it copies that case's live
-- images with binary COPY and adds them in one index build, in the log's
-- order like any change.  A source's withdrawal logs one 'import_removed'
-- per case (the replica drops every image of the case in one scan) instead
-- of a 'case_image_removed' row per image.
--
-- Withdrawal erases exactly as a victim's does: sitr_source_withdraw calls
-- sitr_case_withdraw on each of the source's cases (hashes, variants and
-- every link to an upload erased in the same transaction), then replaces
-- the per-image change rows it wrote (uncommitted, seen by no one) with one
-- 'import_removed' row.  One hash can also be withdrawn alone
-- (sitr_source_withdraw_hash).

CREATE TABLE sources (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    withdrawn_at timestamptz
);

ALTER TABLE cases ADD COLUMN source_id bigint REFERENCES sources (id);
ALTER TABLE cases ALTER COLUMN secret_digest DROP NOT NULL;
ALTER TABLE cases ADD CONSTRAINT cases_secret_or_source
    CHECK ((secret_digest IS NULL) = (source_id IS NOT NULL));
CREATE INDEX cases_source ON cases (source_id) WHERE source_id IS NOT NULL;

-- One row per import that added images: its case, and the summary printed
-- to the operator (no hash, no file name).
CREATE TABLE imports (
    case_id    bigint PRIMARY KEY REFERENCES cases (id),
    source_id  bigint NOT NULL REFERENCES sources (id),
    format     text NOT NULL CHECK (format IN ('csv', 'hma', 'te', 'jsonl')),
    lines      bigint NOT NULL CHECK (lines >= 0),
    added      bigint NOT NULL CHECK (added >= 0),
    duplicates bigint NOT NULL CHECK (duplicates >= 0),
    refused    bigint NOT NULL CHECK (refused >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX imports_source ON imports (source_id);

ALTER TABLE changes DROP CONSTRAINT changes_kind_check;
ALTER TABLE changes ADD CONSTRAINT changes_kind_check CHECK (kind IN (
    'case_image_added', 'case_image_removed', 'case_video_added', 'case_video_removed',
    'case_withdrawn', 'upload_added', 'upload_removed', 'takedown_created', 'takedown_updated',
    'platform_changed',
    'import_added',     -- entity: cases.id of the import (its images, read by COPY)
    'import_removed')); -- entity: cases.id (every image of the case leaves the indexes)

-- The staging table of one import, in the importing session (dropped at
-- commit or rollback).  sitr-admin validates every line and COPYs the
-- decoded rows here: line number, pdq (32 bytes) with quality, md5 (16),
-- sha256 (32), variants (the other dihedral PDQs, 32 bytes each,
-- concatenated, distinct and different from pdq, at most 7).
CREATE FUNCTION sitr_import_stage() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE sitr_import_rows (
        line     bigint NOT NULL,
        pdq      bytea CHECK (octet_length(pdq) = 32),
        quality  smallint CHECK (quality BETWEEN 50 AND 100),
        md5      bytea CHECK (octet_length(md5) = 16),
        sha256   bytea CHECK (octet_length(sha256) = 32),
        variants bytea CHECK (octet_length(variants) BETWEEN 32 AND 224
                              AND octet_length(variants) % 32 = 0),
        CHECK ((pdq IS NULL) = (quality IS NULL)),
        CHECK (pdq IS NOT NULL OR md5 IS NOT NULL OR sha256 IS NOT NULL),
        CHECK (variants IS NULL OR pdq IS NOT NULL)
    ) ON COMMIT DROP;
END $$;

-- Adds the staged rows to source p_source (created on first use; a
-- withdrawn source is refused with SIT04).  A row is a duplicate when an
-- earlier line of the file or a live image of the source has the same
-- (pdq, md5, sha256); the others become the images of one new case owned
-- by the source, with one 'import_added' change row.  Nothing new: no case,
-- no change row (re-importing a file changes nothing).  Imports of one
-- source are serialised by the lock on its row.
CREATE FUNCTION sitr_source_import(p_source text, p_format text, p_lines bigint,
                                   p_refused bigint)
RETURNS TABLE (case_id bigint, added bigint, duplicates bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_src    sources%ROWTYPE;
    v_case   bigint;
    v_staged bigint;
BEGIN
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
    PERFORM sitr_change_log('import_added', ARRAY[v_case]);
    case_id := v_case;
    RETURN NEXT;
END $$;

-- `sitr-admin source withdraw NAME`: every case of the source withdrawn
-- with sitr_case_withdraw (the victims' erasure, whatever its latest
-- definition), in one transaction, and the source marked withdrawn (a
-- later import under that name is refused).  The per-image
-- 'case_image_removed' rows sitr_case_withdraw logs are replaced by one
-- 'import_removed' row per case: they are this transaction's own rows
-- (the change-log writers' lock is taken first and held to commit, so every
-- row above v_before is ours).  Returns the cases withdrawn and the images
-- erased; SIT03 for an unknown source; 0, 0 when already withdrawn.
CREATE FUNCTION sitr_source_withdraw(p_source text, OUT cases_withdrawn int,
                                     OUT images_erased bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_src    sources%ROWTYPE;
    v_case   bigint;
    v_before bigint;
    v_n      bigint;
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
        SELECT coalesce(max(seq), 0) INTO v_before FROM changes;
        SELECT count(*) INTO v_n FROM case_images i WHERE i.case_id = v_case AND i.erased_at IS NULL;
        IF sitr_case_withdraw(v_case) THEN
            DELETE FROM changes WHERE seq > v_before AND kind = 'case_image_removed';
            PERFORM sitr_change_log('import_removed', ARRAY[v_case]);
            cases_withdrawn := cases_withdrawn + 1;
            images_erased := images_erased + v_n;
        END IF;
    END LOOP;
END $$;

-- `sitr-admin source withdraw NAME --hash HEX`: the live images of the
-- source that carry p_hash (as their PDQ, MD5 or SHA-256) are erased as a
-- withdrawal erases: hashes and variants, their matches, and the takedowns
-- of their case left without any match (with their history, webhook
-- deliveries, timeline events and change-log rows, as sitr_case_unlink
-- does for a whole case).  Returns how many images were erased (0: none
-- held); SIT03 for an unknown source.
CREATE FUNCTION sitr_source_withdraw_hash(p_source text, p_hash bytea) RETURNS int
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
    DELETE FROM case_events WHERE takedown_id = ANY (v_td);
    DELETE FROM webhook_deliveries WHERE takedown_id = ANY (v_td);
    DELETE FROM takedown_history WHERE takedown_id = ANY (v_td);
    DELETE FROM takedowns WHERE id = ANY (v_td);
    DELETE FROM changes
     WHERE kind IN ('takedown_created', 'takedown_updated') AND entity_id = ANY (v_td);
    PERFORM sitr_change_log('case_image_removed', v_ids);
    RETURN cardinality(v_ids);
END $$;

-- `sitr-admin source list`: per source, its live images, imports, and
-- dates (no hash).
CREATE VIEW source_summary AS
SELECT s.name, s.created_at, s.withdrawn_at,
       (SELECT count(*) FROM imports im WHERE im.source_id = s.id) AS imports,
       (SELECT count(*) FROM case_images i JOIN cases c ON c.id = i.case_id
         WHERE c.source_id = s.id AND i.erased_at IS NULL) AS images,
       (SELECT max(im.created_at) FROM imports im WHERE im.source_id = s.id) AS last_import_at
  FROM sources s;
