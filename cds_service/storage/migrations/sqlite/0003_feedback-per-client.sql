-- 0003: feedback deduplicated per client (one client's items can no longer suppress another's), and flagged
-- when it names a card uuid the service never issued to that client (kept, but out of accept/override rates).
-- SQLite cannot drop a table constraint in place: the table is rebuilt, its rows and ids kept.
CREATE TABLE feedback_0003 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at DOUBLE PRECISION NOT NULL,
    service_id TEXT NOT NULL,
    client TEXT,
    card TEXT NOT NULL,
    outcome TEXT NOT NULL,
    outcome_timestamp TEXT NOT NULL,
    accepted_suggestions TEXT,
    override_reason TEXT,
    client_key TEXT NOT NULL DEFAULT '',   -- client, or '' when none (CDS_AUTH=off): part of the dedup key
    card_issued INTEGER,                   -- 1: a card this service issued to this client; 0: never issued; NULL: stored before 0003
    at_utc TEXT GENERATED ALWAYS AS (strftime('%Y-%m-%dT%H:%M:%fZ', at, 'unixepoch')) VIRTUAL,
    UNIQUE(service_id, client_key, card, outcome, outcome_timestamp)
);
INSERT INTO feedback_0003(id, at, service_id, client, card, outcome, outcome_timestamp, accepted_suggestions,
                          override_reason, client_key, card_issued)
    SELECT id, at, service_id, client, card, outcome, outcome_timestamp, accepted_suggestions, override_reason,
           COALESCE(client, ''), NULL FROM feedback;
DROP TABLE feedback;
ALTER TABLE feedback_0003 RENAME TO feedback;
CREATE INDEX feedback_at ON feedback(at);
CREATE INDEX feedback_card ON feedback(card);
