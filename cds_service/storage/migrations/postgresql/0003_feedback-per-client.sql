-- 0003: feedback deduplicated per client (one client's items can no longer suppress another's), and flagged
-- when it names a card uuid the service never issued to that client (kept, but out of accept/override rates).
ALTER TABLE feedback ADD COLUMN client_key TEXT NOT NULL DEFAULT '';  -- client, or '' when none (CDS_AUTH=off)
UPDATE feedback SET client_key = COALESCE(client, '');
-- 1: a card this service issued to this client; 0: never issued; NULL: stored before 0003
ALTER TABLE feedback ADD COLUMN card_issued INTEGER;
ALTER TABLE feedback DROP CONSTRAINT IF EXISTS feedback_service_id_card_outcome_outcome_timestamp_key;
ALTER TABLE feedback ADD CONSTRAINT feedback_per_client UNIQUE (service_id, client_key, card, outcome, outcome_timestamp);
ALTER TABLE feedback ADD COLUMN at_utc TIMESTAMPTZ GENERATED ALWAYS AS (to_timestamp(at)) STORED;
CREATE INDEX feedback_at ON feedback(at);
CREATE INDEX feedback_card ON feedback(card);
