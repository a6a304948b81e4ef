-- 0002: what lasting audit needs. Every issued card uuid with its call; the order ids of a call as rows (they
-- sat only inside audit.decisions JSON); UTC timestamps beside the epoch seconds; indexes for the look-ups
-- by coverage-assertion-id, order id, hookInstance, hashed patient id, client and time.

CREATE TABLE issued_card (
    card_uuid TEXT PRIMARY KEY,
    audit_id BIGINT NOT NULL,           -- audit.id of the call that returned it
    at DOUBLE PRECISION NOT NULL,
    service_id TEXT NOT NULL,
    client TEXT                         -- the verified client's iss it was issued to (NULL: CDS_AUTH=off)
);
CREATE INDEX issued_card_audit ON issued_card(audit_id);

-- The draft order ids a call decided on (one row per order and call), for "what did we say about order X".
CREATE TABLE audit_order (
    order_id TEXT NOT NULL,
    audit_id BIGINT NOT NULL,
    PRIMARY KEY (order_id, audit_id)
);
CREATE INDEX audit_order_audit ON audit_order(audit_id);
INSERT INTO audit_order(order_id, audit_id)
    SELECT DISTINCT o.value, a.id FROM audit a
    CROSS JOIN LATERAL json_array_elements(a.decisions::json) d
    CROSS JOIN LATERAL json_array_elements_text(CASE WHEN json_typeof(d->'orders') = 'array' THEN d->'orders' ELSE '[]'::json END) o
    WHERE json_typeof(a.decisions::json) = 'array' AND json_typeof(d) = 'object'
    ON CONFLICT DO NOTHING;

-- A real UTC timestamp computed from `at` (seconds since the epoch, UTC).
ALTER TABLE audit ADD COLUMN at_utc TIMESTAMPTZ GENERATED ALWAYS AS (to_timestamp(at)) STORED;
ALTER TABLE refusal ADD COLUMN at_utc TIMESTAMPTZ GENERATED ALWAYS AS (to_timestamp(at)) STORED;
ALTER TABLE assertion ADD COLUMN at_utc TIMESTAMPTZ GENERATED ALWAYS AS (to_timestamp(at)) STORED;

CREATE INDEX audit_hook_instance ON audit(hook_instance);
CREATE INDEX audit_request_id ON audit(request_id);
CREATE INDEX audit_client_at ON audit(client, at);
CREATE INDEX assertion_audit ON assertion(audit_id);
CREATE INDEX assertion_at ON assertion(at);
CREATE INDEX refusal_client_at ON refusal(client, at);
