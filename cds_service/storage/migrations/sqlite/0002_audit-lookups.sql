-- 0002: what lasting audit needs. Every issued card uuid with its call; the order ids of a call as rows (they
-- sat only inside audit.decisions JSON); UTC timestamps beside the epoch seconds; indexes for the look-ups
-- by coverage-assertion-id, order id, hookInstance, hashed patient id, client and time.

CREATE TABLE issued_card (
    card_uuid TEXT PRIMARY KEY,
    audit_id INTEGER NOT NULL,          -- audit.id of the call that returned it
    at DOUBLE PRECISION NOT NULL,
    service_id TEXT NOT NULL,
    client TEXT                         -- the verified client's iss it was issued to (NULL: CDS_AUTH=off)
);
CREATE INDEX issued_card_audit ON issued_card(audit_id);

-- The draft order ids a call decided on (one row per order and call), for "what did we say about order X".
CREATE TABLE audit_order (
    order_id TEXT NOT NULL,
    audit_id INTEGER NOT NULL,
    PRIMARY KEY (order_id, audit_id)
);
CREATE INDEX audit_order_audit ON audit_order(audit_id);
INSERT OR IGNORE INTO audit_order(order_id, audit_id)
    SELECT o.value, a.id FROM audit a, json_each(a.decisions) d, json_each(d.value, '$.orders') o
    WHERE json_valid(a.decisions) AND d.type = 'object' AND o.type = 'text';

-- ISO 8601 UTC text computed from `at` (seconds since the epoch, UTC): readable in SQL and exports.
ALTER TABLE audit ADD COLUMN at_utc TEXT GENERATED ALWAYS AS (strftime('%Y-%m-%dT%H:%M:%fZ', at, 'unixepoch')) VIRTUAL;
ALTER TABLE refusal ADD COLUMN at_utc TEXT GENERATED ALWAYS AS (strftime('%Y-%m-%dT%H:%M:%fZ', at, 'unixepoch')) VIRTUAL;
ALTER TABLE assertion ADD COLUMN at_utc TEXT GENERATED ALWAYS AS (strftime('%Y-%m-%dT%H:%M:%fZ', at, 'unixepoch')) VIRTUAL;

CREATE INDEX audit_hook_instance ON audit(hook_instance);
CREATE INDEX audit_request_id ON audit(request_id);
CREATE INDEX audit_client_at ON audit(client, at);
CREATE INDEX assertion_audit ON assertion(audit_id);
CREATE INDEX assertion_at ON assertion(at);
CREATE INDEX refusal_client_at ON refusal(client, at);
