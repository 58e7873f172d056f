-- sitr schema, version 2: reliable takedown webhooks (DESIGN.md "Optional
-- webhook per platform: a signed (HMAC-SHA256) POST for each new takedown").
--
-- A durable outbox.  A trigger on takedowns inserts one delivery row for
-- every new takedown whose platform has a webhook, in the SAME transaction
-- as the takedown (sitr_matcher_commit), so a crash can neither lose a
-- webhook nor announce a takedown that was rolled back.  The sender in
-- sitrd (service/webhook.c, on the replica holding the matcher role) claims
-- due rows with FOR UPDATE SKIP LOCKED, POSTs them and records the outcome;
-- delivery is at least once (a crash between the POST and the record sends
-- it again, with the same X-Sitr-Delivery id).
--
-- A row holds no hash, no URL and no secret: those are read from
-- platforms/takedowns at each attempt.  last_error is a short, generic text
-- written by the sender (never a response body).

CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    takedown_id     bigint NOT NULL UNIQUE REFERENCES takedowns (id),
    platform_id     bigint NOT NULL REFERENCES platforms (id),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    -- Given up: too many attempts, platform revoked or webhook removed, or
    -- the takedown is no longer pending (answered by polling, cancelled).
    abandoned_at    timestamptz,
    last_status     smallint CHECK (last_status IS NULL OR last_status BETWEEN 100 AND 999),
    last_error      text CHECK (last_error IS NULL OR length(last_error) <= 200),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (delivered_at IS NULL OR abandoned_at IS NULL)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id)
    WHERE delivered_at IS NULL AND abandoned_at IS NULL;
CREATE INDEX webhook_deliveries_platform ON webhook_deliveries (platform_id, id);

-- The outbox entry of a new takedown, when its platform has a live webhook.
CREATE FUNCTION sitr_webhook_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (takedown_id, platform_id)
    SELECT NEW.id, p.id FROM platforms p
     WHERE p.id = NEW.platform_id AND p.webhook_url IS NOT NULL AND p.revoked_at IS NULL;
    RETURN NULL;
END $$;

CREATE TRIGGER takedowns_webhook AFTER INSERT ON takedowns
    FOR EACH ROW EXECUTE FUNCTION sitr_webhook_enqueue();

-- Claims up to p_limit due deliveries for one attempt each: attempts is
-- counted now and next_attempt_at pushed p_lease_ms ahead, so a sender that
-- dies mid-POST leaves the row due again after the lease (and a concurrent
-- sender, during a role change, skips the locked rows).  Rows that can no
-- longer be delivered are abandoned on the way.  Returns what the POST
-- needs: the URL, the signing secret (hex) and the takedown as the platform
-- sees it in GET /v1/takedowns (the case id is for its per-platform token;
-- it is never sent).
CREATE FUNCTION sitr_webhook_claim(p_limit int, p_lease_ms int, p_max_attempts int)
RETURNS TABLE (delivery_id bigint, attempt int, platform_id bigint, url text, secret text,
               takedown_id bigint, case_id bigint, status text, upload_id text, upload_url text,
               signal text, distance smallint, quality smallint, created_at text)
LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    FOR v IN
        SELECT d.id, d.attempts, p.id AS pid, p.webhook_url, p.webhook_secret, p.revoked_at,
               t.id AS tid, t.case_id AS cid, t.status AS tstatus, u.content_id, u.url AS uurl,
               t.signal AS tsignal, t.distance AS tdistance, t.quality AS tquality,
               to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS tcreated
          FROM webhook_deliveries d
          JOIN platforms p ON p.id = d.platform_id
          JOIN takedowns t ON t.id = d.takedown_id
          JOIN uploads u ON u.id = t.upload_id
         WHERE d.delivered_at IS NULL AND d.abandoned_at IS NULL AND d.next_attempt_at <= now()
         ORDER BY d.next_attempt_at, d.id
         LIMIT greatest(p_limit, 0)
           FOR UPDATE OF d SKIP LOCKED
    LOOP
        IF v.revoked_at IS NOT NULL OR v.webhook_url IS NULL OR v.webhook_secret IS NULL THEN
            UPDATE webhook_deliveries SET abandoned_at = now(), updated_at = now(),
                   last_error = 'platform revoked or webhook removed'
             WHERE id = v.id;
        ELSIF v.tstatus <> 'pending' THEN
            UPDATE webhook_deliveries SET abandoned_at = now(), updated_at = now(),
                   last_error = 'takedown no longer pending'
             WHERE id = v.id;
        ELSIF v.attempts >= p_max_attempts THEN
            UPDATE webhook_deliveries SET abandoned_at = now(), updated_at = now(),
                   last_error = left('too many attempts; ' || coalesce(last_error, ''), 200)
             WHERE id = v.id;
        ELSE
            UPDATE webhook_deliveries SET attempts = attempts + 1, updated_at = now(),
                   next_attempt_at = now() + greatest(p_lease_ms, 0) * interval '1 millisecond'
             WHERE id = v.id;
            delivery_id := v.id;
            attempt := v.attempts + 1;
            platform_id := v.pid;
            url := v.webhook_url;
            secret := encode(v.webhook_secret, 'hex');
            takedown_id := v.tid;
            case_id := v.cid;
            status := v.tstatus;
            upload_id := v.content_id;
            upload_url := v.uurl;
            signal := v.tsignal;
            distance := v.tdistance;
            quality := v.tquality;
            created_at := v.tcreated;
            RETURN NEXT;
        END IF;
    END LOOP;
END $$;

-- Records one attempt's outcome.  Delivered: done.  Failed: due again after
-- p_retry_ms, or abandoned once p_max_attempts attempts were made.  A row
-- already settled (its lease expired and another sender finished it) is
-- left alone.  Returns 'delivered', 'retry', 'abandoned' or NULL (settled).
CREATE FUNCTION sitr_webhook_result(p_id bigint, p_delivered boolean, p_status int,
                                    p_error text, p_retry_ms bigint, p_max_attempts int)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_attempts int;
BEGIN
    SELECT attempts INTO v_attempts FROM webhook_deliveries
     WHERE id = p_id AND delivered_at IS NULL AND abandoned_at IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_delivered THEN
        UPDATE webhook_deliveries SET delivered_at = now(), updated_at = now(),
               last_status = p_status, last_error = NULL
         WHERE id = p_id;
        RETURN 'delivered';
    END IF;
    IF v_attempts >= p_max_attempts THEN
        UPDATE webhook_deliveries SET abandoned_at = now(), updated_at = now(),
               last_status = p_status, last_error = left('too many attempts; ' || coalesce(p_error, ''), 200)
         WHERE id = p_id;
        RETURN 'abandoned';
    END IF;
    UPDATE webhook_deliveries SET updated_at = now(), last_status = p_status,
           last_error = left(p_error, 200),
           next_attempt_at = now() + greatest(p_retry_ms, 0) * interval '1 millisecond'
     WHERE id = p_id;
    RETURN 'retry';
END $$;
