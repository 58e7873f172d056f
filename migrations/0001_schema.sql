-- sitr schema, version 1: the data model of DESIGN.md.
--
-- PostgreSQL is the single source of truth.  Every write the service makes
-- goes through one of the sitr_* functions below, so that each request is
-- ONE parameterised statement and therefore one transaction: data, change
-- log row and NOTIFY commit together or not at all.
--
-- Hashes are bytea with their exact length checked (PDQ 32, MD5 16,
-- SHA-256 32 bytes).  Secrets and API keys are never stored: only keyed
-- BLAKE2b-256 digests (32 bytes) computed by the service with a key that
-- lives in its configuration, not here.
--
-- Errors raised for the service to map (SQLSTATE, class "SI" is ours):
--   SIT01  per-case image limit exceeded          -> 422
--   SIT02  invalid takedown status transition     -> 409
--   SIT03  no such case / upload / takedown       -> 404
--   SIT04  the case is withdrawn                  -> 409 (or 404)
--   22023  malformed argument (bad hex, shape)    -> 422 (service validates first)
--
-- Advisory lock keys (pg_advisory_*):
--   1936290930  transaction lock serialising change-log writers (see changes)
--   1936290931  session lock held by the one matcher (DESIGN.md, issue 4)
--   1936290932  session lock held by `sitr-admin migrate`

CREATE TABLE platforms (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL UNIQUE
                   CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    key_digest     bytea NOT NULL UNIQUE CHECK (octet_length(key_digest) = 32),
    -- Outbound webhook (optional).  The HMAC secret must be usable to sign,
    -- so it is stored as is; it only authenticates sitr to the platform.
    webhook_url    text CHECK (webhook_url IS NULL
                               OR (webhook_url ~ '^https?://' AND length(webhook_url) <= 2048)),
    webhook_secret bytea CHECK (webhook_secret IS NULL OR octet_length(webhook_secret) = 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    key_rotated_at timestamptz,
    revoked_at     timestamptz
);

CREATE TABLE cases (
    id            bigserial PRIMARY KEY,
    reference     text NOT NULL UNIQUE CHECK (length(reference) BETWEEN 8 AND 80),
    secret_digest bytea NOT NULL CHECK (octet_length(secret_digest) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    withdrawn_at  timestamptz
);

-- One image of a case.  A PDQ is stored only with quality >= 50 (DESIGN.md:
-- lower quality PDQs are refused, their MD5/SHA-256 are still accepted).
-- Withdrawal keeps the row (matches and takedowns point at it) but erases
-- every hash column and the variants and sets erased_at: after that the row
-- says only "an image existed".
CREATE TABLE case_images (
    id         bigserial PRIMARY KEY,
    case_id    bigint NOT NULL REFERENCES cases (id),
    pdq        bytea CHECK (octet_length(pdq) = 32),
    quality    smallint CHECK (quality BETWEEN 0 AND 100),
    md5        bytea CHECK (octet_length(md5) = 16),
    sha256     bytea CHECK (octet_length(sha256) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at  timestamptz,
    CHECK (pdq IS NULL OR quality >= 50),
    CHECK (erased_at IS NOT NULL OR pdq IS NOT NULL OR md5 IS NOT NULL OR sha256 IS NOT NULL),
    CHECK (erased_at IS NULL OR (pdq IS NULL AND md5 IS NULL AND sha256 IS NULL AND quality IS NULL))
);
CREATE INDEX case_images_case ON case_images (case_id);
CREATE INDEX case_images_md5 ON case_images (md5) WHERE md5 IS NOT NULL;
CREATE INDEX case_images_sha256 ON case_images (sha256) WHERE sha256 IS NOT NULL;

-- The other dihedral variants (rotations/flips) of an image's PDQ; the
-- image's own PDQ is variant 0 and lives in case_images.pdq.
CREATE TABLE case_image_variants (
    image_id bigint NOT NULL REFERENCES case_images (id) ON DELETE CASCADE,
    variant  smallint NOT NULL CHECK (variant BETWEEN 1 AND 7),
    pdq      bytea NOT NULL CHECK (octet_length(pdq) = 32),
    PRIMARY KEY (image_id, variant)
);

-- Uploads reported by platforms.  These are the platform's content, not the
-- victim's hashes; they stay until the platform removes them.
CREATE TABLE uploads (
    id          bigserial PRIMARY KEY,
    platform_id bigint NOT NULL REFERENCES platforms (id),
    content_id  text NOT NULL CHECK (length(content_id) BETWEEN 1 AND 256),
    url         text CHECK (url IS NULL OR length(url) <= 2048),
    pdq         bytea CHECK (octet_length(pdq) = 32),
    quality     smallint CHECK (quality BETWEEN 0 AND 100),
    md5         bytea CHECK (octet_length(md5) = 16),
    sha256      bytea CHECK (octet_length(sha256) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    removed_at  timestamptz,
    CHECK (pdq IS NULL OR quality >= 50),
    -- A removed upload keeps no hash (it may be a copy of a victim's image).
    CHECK (removed_at IS NOT NULL OR pdq IS NOT NULL OR md5 IS NOT NULL OR sha256 IS NOT NULL),
    CHECK (removed_at IS NULL OR (pdq IS NULL AND md5 IS NULL AND sha256 IS NULL)),
    UNIQUE (platform_id, content_id)
);
CREATE INDEX uploads_md5 ON uploads (md5) WHERE md5 IS NOT NULL AND removed_at IS NULL;
CREATE INDEX uploads_sha256 ON uploads (sha256) WHERE sha256 IS NOT NULL AND removed_at IS NULL;

-- A match between a case image and an upload.  No hash is stored: only the
-- signal and the distance.  Kept after withdrawal (retention without hashes).
CREATE TABLE matches (
    id            bigserial PRIMARY KEY,
    case_image_id bigint NOT NULL REFERENCES case_images (id),
    upload_id     bigint NOT NULL REFERENCES uploads (id),
    signal        text NOT NULL CHECK (signal IN ('pdq', 'md5', 'sha256')),
    distance      smallint NOT NULL CHECK (distance BETWEEN 0 AND 256),
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_image_id, upload_id)
);
CREATE INDEX matches_upload ON matches (upload_id);

-- One takedown request per (upload, case).  signal/distance/quality are
-- those of the best match, for the platform's review (poisoning defence).
-- Kept after withdrawal (pending ones become 'cancelled').
CREATE TABLE takedowns (
    id          bigserial PRIMARY KEY,
    platform_id bigint NOT NULL REFERENCES platforms (id),
    upload_id   bigint NOT NULL REFERENCES uploads (id),
    case_id     bigint NOT NULL REFERENCES cases (id),
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'removed', 'rejected', 'not_found', 'cancelled')),
    signal      text NOT NULL CHECK (signal IN ('pdq', 'md5', 'sha256')),
    distance    smallint NOT NULL CHECK (distance BETWEEN 0 AND 256),
    quality     smallint CHECK (quality BETWEEN 0 AND 100),
    note        text CHECK (note IS NULL OR length(note) <= 1000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (upload_id, case_id)
);
CREATE INDEX takedowns_platform ON takedowns (platform_id, status, id);
CREATE INDEX takedowns_case ON takedowns (case_id);

CREATE TABLE takedown_history (
    id          bigserial PRIMARY KEY,
    takedown_id bigint NOT NULL REFERENCES takedowns (id),
    status      text NOT NULL
                CHECK (status IN ('pending', 'removed', 'rejected', 'not_found', 'cancelled')),
    note        text CHECK (note IS NULL OR length(note) <= 1000),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX takedown_history_takedown ON takedown_history (takedown_id, id);

-- The victim's timeline.  Never carries a hash or a platform's content id.
CREATE TABLE case_events (
    id          bigserial PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases (id),
    kind        text NOT NULL CHECK (kind IN (
                    'case_created', 'images_added', 'match_found', 'upload_blocked',
                    'takedown_requested', 'takedown_removed', 'takedown_rejected',
                    'takedown_not_found', 'takedown_cancelled', 'case_withdrawn')),
    platform_id bigint REFERENCES platforms (id),
    takedown_id bigint REFERENCES takedowns (id),
    count       integer NOT NULL DEFAULT 1 CHECK (count >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_events_case ON case_events (case_id, id);

-- The change log followed by every sitrd (index sync) and by the matcher.
--
-- Followers read "every change after the last seq I applied".  That is only
-- safe if a row with a lower seq can never become visible after one with a
-- higher seq.  bigserial alone does not give that (concurrent transactions
-- commit in any order), so every writer appends through sitr_change_log(),
-- which takes a transaction-scoped advisory lock before drawing seq numbers:
-- the lock is held until commit, so seq order is commit order.  Writers
-- append their change rows last, to hold the lock as briefly as possible.
CREATE TABLE changes (
    seq        bigserial PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN (
                   'case_image_added',    -- entity: case_images.id
                   'case_image_removed',  -- entity: case_images.id (hashes erased)
                   'case_withdrawn',      -- entity: cases.id
                   'upload_added',        -- entity: uploads.id (new or hashes replaced)
                   'upload_removed',      -- entity: uploads.id
                   'takedown_created',    -- entity: takedowns.id (webhooks)
                   'takedown_updated',    -- entity: takedowns.id
                   'platform_changed')),  -- entity: platforms.id (key, revocation, webhook)
    entity_id  bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- How far the matcher has consumed the change log.  One row.
CREATE TABLE matcher_progress (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_seq   bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO matcher_progress (id, last_seq) VALUES (true, 0);

------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------

-- Appends one change row per entity and wakes the followers (the NOTIFY is
-- delivered at commit; its payload is the highest seq written, a hint only).
CREATE FUNCTION sitr_change_log(p_kind text, p_ids bigint[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_last bigint;
BEGIN
    IF p_ids IS NULL OR cardinality(p_ids) = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(1936290930);
    WITH ins AS (
        INSERT INTO changes (kind, entity_id)
        SELECT p_kind, e FROM unnest(p_ids) WITH ORDINALITY AS t(e, o) ORDER BY o
        RETURNING seq
    )
    SELECT max(seq) INTO v_last FROM ins;
    PERFORM pg_notify('sitr_changes', v_last::text);
    RETURN v_last;
END $$;

-- Decodes optional lower/upper-case hex of an exact byte length; NULL stays
-- NULL.  Raises 22023 on anything else (the service validates first; this
-- is the last line of defence).
CREATE FUNCTION sitr_hex(p_hex text, p_len int, p_what text) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_hex IS NULL THEN
        RETURN NULL;
    END IF;
    IF length(p_hex) <> 2 * p_len OR p_hex !~ '^[0-9A-Fa-f]*$' THEN
        RAISE EXCEPTION 'malformed %', p_what USING ERRCODE = '22023';
    END IF;
    RETURN decode(p_hex, 'hex');
END $$;

-- Inserts the images of a jsonb array for a case (shared by create and
-- add).  Each element: {"pdq": hex|null, "quality": int|null,
-- "dihedral": [hex, ...], "md5": hex|null, "sha256": hex|null}.
-- An image equal (all three hashes) to one already in the case, or to an
-- earlier element, is skipped.  Returns the ids of the inserted images.
CREATE FUNCTION sitr_case_insert_images(p_case_id bigint, p_images jsonb) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    v_img   jsonb;
    v_pdq   bytea;
    v_md5   bytea;
    v_sha   bytea;
    v_q     smallint;
    v_id    bigint;
    v_ids   bigint[] := '{}';
    v_var   text;
    v_n     int;
BEGIN
    IF jsonb_typeof(p_images) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'images must be an array' USING ERRCODE = '22023';
    END IF;
    FOR v_img IN SELECT e FROM jsonb_array_elements(p_images) WITH ORDINALITY AS t(e, o) ORDER BY o
    LOOP
        IF jsonb_typeof(v_img) IS DISTINCT FROM 'object' THEN
            RAISE EXCEPTION 'image must be an object' USING ERRCODE = '22023';
        END IF;
        v_pdq := sitr_hex(v_img ->> 'pdq', 32, 'pdq');
        v_md5 := sitr_hex(v_img ->> 'md5', 16, 'md5');
        v_sha := sitr_hex(v_img ->> 'sha256', 32, 'sha256');
        v_q := (v_img ->> 'quality')::smallint;
        IF v_pdq IS NOT NULL AND (v_q IS NULL OR v_q < 50) THEN
            RAISE EXCEPTION 'pdq quality below 50' USING ERRCODE = '22023';
        END IF;
        IF v_pdq IS NULL THEN
            v_q := NULL; -- a refused PDQ leaves nothing behind, not even its quality
        END IF;
        IF v_pdq IS NULL AND v_md5 IS NULL AND v_sha IS NULL THEN
            RAISE EXCEPTION 'image without any hash' USING ERRCODE = '22023';
        END IF;
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM case_images
             WHERE case_id = p_case_id AND erased_at IS NULL
               AND pdq IS NOT DISTINCT FROM v_pdq
               AND md5 IS NOT DISTINCT FROM v_md5
               AND sha256 IS NOT DISTINCT FROM v_sha);
        INSERT INTO case_images (case_id, pdq, quality, md5, sha256)
        VALUES (p_case_id, v_pdq, v_q, v_md5, v_sha)
        RETURNING id INTO v_id;
        v_ids := v_ids || v_id;
        IF v_img ? 'dihedral' AND jsonb_typeof(v_img -> 'dihedral') <> 'null' THEN
            IF jsonb_typeof(v_img -> 'dihedral') <> 'array' THEN
                RAISE EXCEPTION 'dihedral must be an array' USING ERRCODE = '22023';
            END IF;
            IF v_pdq IS NULL AND jsonb_array_length(v_img -> 'dihedral') > 0 THEN
                RAISE EXCEPTION 'dihedral without pdq' USING ERRCODE = '22023';
            END IF;
            v_n := 0;
            -- Variants equal to the image's own PDQ or to an earlier variant
            -- add nothing to matching: skip them.
            FOR v_var IN
                SELECT DISTINCT ON (lower(x)) lower(x)
                  FROM jsonb_array_elements_text(v_img -> 'dihedral') WITH ORDINALITY AS d(x, o)
                 ORDER BY lower(x), o
            LOOP
                CONTINUE WHEN sitr_hex(v_var, 32, 'dihedral') = v_pdq;
                v_n := v_n + 1;
                IF v_n > 7 THEN
                    RAISE EXCEPTION 'more than 7 dihedral variants' USING ERRCODE = '22023';
                END IF;
                INSERT INTO case_image_variants (image_id, variant, pdq)
                VALUES (v_id, v_n, decode(v_var, 'hex'));
            END LOOP;
        END IF;
    END LOOP;
    RETURN v_ids;
END $$;

------------------------------------------------------------------------------
-- Victims' side (issue 3)
------------------------------------------------------------------------------

-- POST /v1/cases.  The reference and the secret are generated by the
-- service; only the secret's keyed digest arrives here.  A duplicate
-- reference raises 23505 (the service retries with a new one).
CREATE FUNCTION sitr_case_create(p_reference text, p_secret_digest bytea, p_images jsonb,
                                 p_max_per_case int)
RETURNS TABLE (case_id bigint, images int)
LANGUAGE plpgsql AS $$
DECLARE
    v_case bigint;
    v_ids  bigint[];
BEGIN
    INSERT INTO cases (reference, secret_digest) VALUES (p_reference, p_secret_digest)
    RETURNING id INTO v_case;
    v_ids := sitr_case_insert_images(v_case, p_images);
    IF cardinality(v_ids) = 0 THEN
        RAISE EXCEPTION 'a case needs at least one image' USING ERRCODE = '22023';
    END IF;
    IF p_max_per_case IS NOT NULL AND cardinality(v_ids) > p_max_per_case THEN
        RAISE EXCEPTION 'too many images for one case'
            USING ERRCODE = 'SIT01', HINT = 'limit ' || p_max_per_case;
    END IF;
    INSERT INTO case_events (case_id, kind, count) VALUES (v_case, 'case_created', cardinality(v_ids));
    PERFORM sitr_change_log('case_image_added', v_ids);
    case_id := v_case;
    images := cardinality(v_ids);
    RETURN NEXT;
END $$;

-- POST /v1/cases/{case}/images.  Returns the number of images actually
-- added (duplicates of existing images are skipped) and the new total.
CREATE FUNCTION sitr_case_add_images(p_case_id bigint, p_images jsonb, p_max_per_case int)
RETURNS TABLE (added int, total int)
LANGUAGE plpgsql AS $$
DECLARE
    v_withdrawn timestamptz;
    v_ids       bigint[];
    v_total     int;
BEGIN
    -- The row lock serialises concurrent additions to one case, so the cap
    -- below cannot be overrun by two requests racing.
    SELECT withdrawn_at INTO v_withdrawn FROM cases WHERE id = p_case_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such case' USING ERRCODE = 'SIT03';
    END IF;
    IF v_withdrawn IS NOT NULL THEN
        RAISE EXCEPTION 'case withdrawn' USING ERRCODE = 'SIT04';
    END IF;
    v_ids := sitr_case_insert_images(p_case_id, p_images);
    SELECT count(*) INTO v_total FROM case_images WHERE case_id = p_case_id AND erased_at IS NULL;
    IF p_max_per_case IS NOT NULL AND v_total > p_max_per_case THEN
        RAISE EXCEPTION 'too many images for one case'
            USING ERRCODE = 'SIT01', HINT = 'limit ' || p_max_per_case;
    END IF;
    IF cardinality(v_ids) > 0 THEN
        INSERT INTO case_events (case_id, kind, count)
        VALUES (p_case_id, 'images_added', cardinality(v_ids));
        PERFORM sitr_change_log('case_image_added', v_ids);
    END IF;
    added := cardinality(v_ids);
    total := v_total;
    RETURN NEXT;
END $$;

-- DELETE /v1/cases/{case}.  In one transaction: every hash of the case is
-- erased (hash columns nulled, variants deleted), pending takedowns are
-- cancelled, the case is marked withdrawn, and the change log tells every
-- replica to drop the images from its index.
--
-- Retention: the case row (reference, secret digest, dates), the hash-less
-- image rows, matches (signal and distance only), takedowns with their
-- history and the case events remain, so the operator can still account
-- for takedowns already sent.  None of them holds a hash of the victim's
-- images.  The victim's access ends here: the API answers for a withdrawn
-- case exactly as for an unknown one.
-- Returns true when withdrawn now, false when it already was.
CREATE FUNCTION sitr_case_withdraw(p_case_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_withdrawn timestamptz;
    v_ids       bigint[];
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
    VALUES (p_case_id, 'case_withdrawn', cardinality(v_ids));
    PERFORM sitr_change_log('case_image_removed', v_ids);
    PERFORM sitr_change_log('takedown_updated', v_td);
    PERFORM sitr_change_log('case_withdrawn', ARRAY[p_case_id]);
    RETURN true;
END $$;

-- GET /v1/cases/{case}: counts and the timeline (latest p_limit events,
-- oldest first), platforms by name.  Never a hash, never a platform's
-- content id.  The caller has already checked the secret.
CREATE FUNCTION sitr_case_status(p_case_id bigint, p_limit int DEFAULT 200) RETURNS jsonb
LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'created_at', c.created_at,
    'withdrawn_at', c.withdrawn_at,
    'images', (SELECT count(*) FROM case_images i WHERE i.case_id = c.id AND i.erased_at IS NULL),
    'matches', (SELECT count(*) FROM matches m JOIN case_images i ON i.id = m.case_image_id
                 WHERE i.case_id = c.id),
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

-- GET /v1/cases/{case}/report: the evidence report (api_report.c).  For
-- each takedown request (one per upload found, DESIGN.md "Data model"):
-- the platform, its content id and URL, when the upload was reported and
-- removed, the matches (signal, distance, when found), the status history
-- with the platform's notes; uploads blocked by /v1/match grouped by
-- platform and UTC day; a summary over everything.  Times are UTC text
-- with milliseconds and "Z", the format the platforms see in GET
-- /v1/takedowns, so the police can compare them with the platform's own
-- records.  Never a hash.  At most p_limit takedowns and p_limit blocked
-- groups are listed (the oldest); 'truncated' says when more exist, and
-- the summary counts all of them.  platform_id is for the service (it
-- derives the platform's case token) and is not sent as is.  The caller
-- has already checked the secret; withdrawn_at lets it refuse a case
-- withdrawn since.
CREATE FUNCTION sitr_report_time(p_at timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

CREATE FUNCTION sitr_case_report(p_case_id bigint, p_limit int DEFAULT 1000) RETURNS jsonb
LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'reference', c.reference,
    'created_at', sitr_report_time(c.created_at),
    'withdrawn_at', sitr_report_time(c.withdrawn_at),
    'generated_at', sitr_report_time(now()),
    'images', (SELECT count(*) FROM case_images i WHERE i.case_id = c.id AND i.erased_at IS NULL),
    'summary', jsonb_build_object(
        'platforms', (SELECT count(DISTINCT x.platform_id) FROM (
                          SELECT t.platform_id FROM takedowns t WHERE t.case_id = c.id
                          UNION ALL
                          SELECT e.platform_id FROM case_events e
                           WHERE e.case_id = c.id AND e.kind = 'upload_blocked') x),
        'uploads_found', (SELECT count(*) FROM takedowns t WHERE t.case_id = c.id),
        'matches', (SELECT count(*) FROM matches m JOIN case_images i ON i.id = m.case_image_id
                     WHERE i.case_id = c.id),
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
    'takedowns', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                          'id', t.id::text, 'platform', p.name, 'platform_id', t.platform_id,
                          'upload', jsonb_build_object(
                              'id', u.content_id, 'url', u.url,
                              'reported_at', sitr_report_time(u.created_at),
                              'removed_at', sitr_report_time(u.removed_at)),
                          'signal', t.signal, 'distance', t.distance,
                          'found_at', (SELECT sitr_report_time(min(m.created_at))
                                         FROM matches m JOIN case_images i ON i.id = m.case_image_id
                                        WHERE m.upload_id = t.upload_id AND i.case_id = c.id),
                          'matches', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                                 'signal', m.signal, 'distance', m.distance,
                                                 'found_at', sitr_report_time(m.created_at))
                                                 ORDER BY m.id), '[]'::jsonb)
                                        FROM matches m JOIN case_images i ON i.id = m.case_image_id
                                       WHERE m.upload_id = t.upload_id AND i.case_id = c.id),
                          'status', t.status, 'note', t.note,
                          'requested_at', sitr_report_time(t.created_at),
                          'updated_at', sitr_report_time(t.updated_at),
                          'history', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                                 'status', h.status,
                                                 'at', sitr_report_time(h.created_at),
                                                 'note', h.note)
                                                 ORDER BY h.id), '[]'::jsonb)
                                        FROM takedown_history h WHERE h.takedown_id = t.id))
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
-- Platforms' side and the matcher (issue 4)
------------------------------------------------------------------------------

-- POST /v1/uploads.  Each element: {"id": content id, "url": text|null,
-- "pdq", "quality", "md5", "sha256"}.  A content id reported again replaces
-- its hashes (and un-removes it) only if they changed; unchanged reports
-- write nothing.  Returns one row per element.
CREATE FUNCTION sitr_uploads_report(p_platform_id bigint, p_uploads jsonb)
RETURNS TABLE (content_id text, upload_id bigint, status text)
LANGUAGE plpgsql AS $$
DECLARE
    v_u     jsonb;
    v_pdq   bytea;
    v_md5   bytea;
    v_sha   bytea;
    v_q     smallint;
    v_old   uploads%ROWTYPE;
    v_ids   bigint[] := '{}';
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
        IF v_pdq IS NOT NULL AND (v_q IS NULL OR v_q < 50) THEN
            RAISE EXCEPTION 'pdq quality below 50' USING ERRCODE = '22023';
        END IF;
        IF v_pdq IS NULL THEN
            v_q := NULL;
        END IF;
        SELECT * INTO v_old FROM uploads u
         WHERE u.platform_id = p_platform_id AND u.content_id = v_u ->> 'id' FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO uploads (platform_id, content_id, url, pdq, quality, md5, sha256)
            VALUES (p_platform_id, v_u ->> 'id', v_u ->> 'url', v_pdq, v_q, v_md5, v_sha)
            RETURNING id INTO upload_id;
            status := 'created';
            v_ids := v_ids || upload_id;
        ELSIF v_old.removed_at IS NULL
              AND v_old.pdq IS NOT DISTINCT FROM v_pdq AND v_old.md5 IS NOT DISTINCT FROM v_md5
              AND v_old.sha256 IS NOT DISTINCT FROM v_sha THEN
            upload_id := v_old.id;
            status := 'unchanged';
            IF v_old.url IS DISTINCT FROM v_u ->> 'url' THEN
                UPDATE uploads SET url = v_u ->> 'url' WHERE id = v_old.id;
            END IF;
        ELSE
            UPDATE uploads SET url = v_u ->> 'url', pdq = v_pdq, quality = v_q, md5 = v_md5,
                               sha256 = v_sha, removed_at = NULL
             WHERE id = v_old.id;
            upload_id := v_old.id;
            status := 'updated';
            v_ids := v_ids || upload_id;
        END IF;
        RETURN NEXT;
    END LOOP;
    PERFORM sitr_change_log('upload_added', v_ids);
END $$;

-- DELETE /v1/uploads/{id}.  The hashes stay (the matcher's history refers
-- to the row); removed_at takes the upload out of every index.  Returns
-- false when the platform has no such (live) upload.
CREATE FUNCTION sitr_upload_remove(p_platform_id bigint, p_content_id text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    -- The hashes go with the content: only the platform's identifiers, the
    -- matches (signal, distance) and the takedowns remain.
    UPDATE uploads SET removed_at = now(), pdq = NULL, quality = NULL, md5 = NULL, sha256 = NULL
     WHERE platform_id = p_platform_id AND content_id = p_content_id AND removed_at IS NULL
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RETURN false;
    END IF;
    PERFORM sitr_change_log('upload_removed', ARRAY[v_id]);
    RETURN true;
END $$;

-- POST /v1/takedowns/{id}: the platform's answer.  Only a pending takedown
-- can be answered (SIT02 otherwise); another platform's takedown is
-- indistinguishable from a missing one (SIT03).
CREATE FUNCTION sitr_takedown_answer(p_platform_id bigint, p_takedown_id bigint, p_status text,
                                     p_note text)
RETURNS TABLE (id bigint, status text, updated_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_t takedowns%ROWTYPE;
BEGIN
    IF p_status NOT IN ('removed', 'rejected', 'not_found') THEN
        RAISE EXCEPTION 'invalid status' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO v_t FROM takedowns t
     WHERE t.id = p_takedown_id AND t.platform_id = p_platform_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such takedown' USING ERRCODE = 'SIT03';
    END IF;
    IF v_t.status <> 'pending' THEN
        RAISE EXCEPTION 'takedown is %', v_t.status USING ERRCODE = 'SIT02';
    END IF;
    UPDATE takedowns t SET status = p_status, note = p_note, updated_at = now()
     WHERE t.id = v_t.id;
    INSERT INTO takedown_history (takedown_id, status, note) VALUES (v_t.id, p_status, p_note);
    INSERT INTO case_events (case_id, kind, platform_id, takedown_id)
    VALUES (v_t.case_id, 'takedown_' || p_status, p_platform_id, v_t.id);
    PERFORM sitr_change_log('takedown_updated', ARRAY[v_t.id]);
    RETURN QUERY SELECT t.id, t.status, t.updated_at FROM takedowns t WHERE t.id = v_t.id;
END $$;

-- POST /v1/match: record "upload blocked" on each case a query matched
-- (one event per case per call, count = matched items).  No hash of the
-- query is stored.
CREATE FUNCTION sitr_match_record_blocked(p_platform_id bigint, p_case_image_ids bigint[])
RETURNS int
LANGUAGE sql AS $$
WITH ins AS (
    INSERT INTO case_events (case_id, kind, platform_id, count)
    SELECT i.case_id, 'upload_blocked', p_platform_id, count(*)
      FROM unnest(p_case_image_ids) AS x(id)
      JOIN case_images i ON i.id = x.id
      JOIN cases c ON c.id = i.case_id AND c.withdrawn_at IS NULL
     GROUP BY i.case_id
    RETURNING 1
)
SELECT count(*)::int FROM ins
$$;

-- The matcher's commit: matches found while consuming the change log up to
-- p_seq, written with the takedowns, case events and progress in ONE
-- transaction.  Replays are harmless: an existing match is skipped, a
-- takedown exists at most once per (upload, case), and progress never
-- moves backwards.  A match against a withdrawn case, an erased image or a
-- removed upload is skipped (it may have happened after the matcher read
-- the change).  Each element: {"case_image_id", "upload_id", "signal",
-- "distance"}.  Returns the number of takedowns created.
CREATE FUNCTION sitr_matcher_commit(p_seq bigint, p_matches jsonb) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_m    record;
    v_case bigint;
    v_plat bigint;
    v_td   bigint;
    v_tds  bigint[] := '{}';
BEGIN
    FOR v_m IN
        SELECT (e ->> 'case_image_id')::bigint AS image_id, (e ->> 'upload_id')::bigint AS upload_id,
               e ->> 'signal' AS signal, (e ->> 'distance')::smallint AS distance
          FROM jsonb_array_elements(coalesce(p_matches, '[]')) WITH ORDINALITY AS t(e, o)
         ORDER BY o
    LOOP
        -- FOR SHARE: a withdrawal (which locks the case row FOR UPDATE) or
        -- an upload removal in flight is waited for and then seen, so that
        -- no pending takedown is created behind its back and left pending
        -- after it committed; and a withdrawal that comes later waits for
        -- this commit and cancels what it created.
        SELECT i.case_id, u.platform_id INTO v_case, v_plat
          FROM case_images i JOIN cases c ON c.id = i.case_id, uploads u
         WHERE i.id = v_m.image_id AND u.id = v_m.upload_id
           AND i.erased_at IS NULL AND c.withdrawn_at IS NULL AND u.removed_at IS NULL
           FOR SHARE OF c, u;
        CONTINUE WHEN NOT FOUND;
        INSERT INTO matches (case_image_id, upload_id, signal, distance)
        VALUES (v_m.image_id, v_m.upload_id, v_m.signal, v_m.distance)
        ON CONFLICT DO NOTHING;
        CONTINUE WHEN NOT FOUND;
        INSERT INTO case_events (case_id, kind, platform_id)
        VALUES (v_case, 'match_found', v_plat);
        INSERT INTO takedowns (platform_id, upload_id, case_id, signal, distance, quality)
        SELECT v_plat, v_m.upload_id, v_case, v_m.signal, v_m.distance, u.quality
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
-- Reading for the indexes (bulk load, then the change log)
------------------------------------------------------------------------------

-- Live case images with their variants (variant 0 = pdq first).
CREATE VIEW index_case_images AS
SELECT i.id AS image_id, i.case_id, i.pdq, i.quality, i.md5, i.sha256,
       (SELECT array_agg(v.pdq ORDER BY v.variant) FROM case_image_variants v
         WHERE v.image_id = i.id) AS variants
  FROM case_images i JOIN cases c ON c.id = i.case_id
 WHERE i.erased_at IS NULL AND c.withdrawn_at IS NULL;

-- Live uploads.
CREATE VIEW index_uploads AS
SELECT u.id AS upload_id, u.platform_id, u.pdq, u.quality, u.md5, u.sha256
  FROM uploads u
 WHERE u.removed_at IS NULL;

-- The highest seq visible to this statement's snapshot.  Run in the same
-- statement (or REPEATABLE READ transaction) as a bulk load, then follow
-- the log from it: thanks to the writers' lock (see changes), every lower
-- seq is visible in that snapshot too.
CREATE FUNCTION sitr_changes_head() RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT coalesce(max(seq), 0) FROM changes $$;

-- The change log after p_after, with the current hashes of what each change
-- names (NULL when the entity was erased or removed since: nothing to add).
CREATE FUNCTION sitr_changes_after(p_after bigint, p_limit int)
RETURNS TABLE (seq bigint, kind text, entity_id bigint, case_id bigint, platform_id bigint,
               pdq bytea, quality smallint, md5 bytea, sha256 bytea, variants bytea[])
LANGUAGE sql STABLE AS $$
SELECT ch.seq, ch.kind, ch.entity_id,
       coalesce(ci.case_id, CASE WHEN ch.kind = 'case_withdrawn' THEN ch.entity_id END),
       iu.platform_id,
       coalesce(ci.pdq, iu.pdq), coalesce(ci.quality, iu.quality),
       coalesce(ci.md5, iu.md5), coalesce(ci.sha256, iu.sha256), ci.variants
  FROM changes ch
  LEFT JOIN index_case_images ci ON ch.kind = 'case_image_added' AND ci.image_id = ch.entity_id
  LEFT JOIN index_uploads iu ON ch.kind = 'upload_added' AND iu.upload_id = ch.entity_id
 WHERE ch.seq > p_after
 ORDER BY ch.seq
 LIMIT p_limit
$$;

-- Operator statistics against poisoning: per case, how many takedowns the
-- platforms rejected.
CREATE VIEW case_rejection_stats AS
SELECT c.id AS case_id, c.reference, count(t.*) AS takedowns,
       count(*) FILTER (WHERE t.status = 'rejected') AS rejected,
       count(*) FILTER (WHERE t.status = 'removed') AS removed
  FROM cases c JOIN takedowns t ON t.case_id = c.id
 GROUP BY c.id, c.reference;
