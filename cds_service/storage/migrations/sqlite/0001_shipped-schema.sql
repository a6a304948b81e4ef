-- 0001: the schema as shipped before versioned migrations (store.SCHEMA of that release), verbatim.
-- IF NOT EXISTS throughout: a database that release created is already at 0001, and is recorded as such.
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at DOUBLE PRECISION NOT NULL,
    hook TEXT NOT NULL,
    hook_instance TEXT NOT NULL,
    service_id TEXT NOT NULL,
    client TEXT,
    patient_hash TEXT,
    status INTEGER NOT NULL,
    duration_ms DOUBLE PRECISION NOT NULL,
    decisions TEXT NOT NULL,        -- JSON: per procedure decision, revision, criteria not met / needing documentation
    technical_problem TEXT,
    detail TEXT,                    -- JSON: fetched/prefetched keys, skipped resources (types/ids only)
    request_id TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
CREATE INDEX IF NOT EXISTS audit_patient ON audit(patient_hash);
CREATE TABLE IF NOT EXISTS assertion (
    assertion_id TEXT PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    audit_id BIGINT,
    hook_instance TEXT NOT NULL,
    patient_hash TEXT,
    order_ids TEXT NOT NULL,
    decision TEXT NOT NULL,
    revision TEXT,
    criteria TEXT NOT NULL          -- JSON: the full per-criterion result, for DTR and disputes
);
-- Every refused call (CRD: a log of every call). The class of the refusal only: never the body, the token,
-- the diagnostics text or the raw path (any of them may carry an id).
CREATE TABLE IF NOT EXISTS refusal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at DOUBLE PRECISION NOT NULL,
    request_id TEXT,                -- the call's X-Request-ID (its access line carries the same)
    method TEXT NOT NULL,
    route TEXT NOT NULL,            -- the matched URL rule, e.g. /cds-services/<service_id>; '-' when none matched
    service_id TEXT,                -- only a service the service offers
    client TEXT,                    -- the verified client's iss, when the JWT was verified
    status INTEGER NOT NULL,
    reason TEXT NOT NULL            -- a fixed class, e.g. jwt-refused, body-too-large
);
CREATE INDEX IF NOT EXISTS refusal_at ON refusal(at);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at DOUBLE PRECISION NOT NULL,
    service_id TEXT NOT NULL,
    client TEXT,
    card TEXT NOT NULL,
    outcome TEXT NOT NULL,
    outcome_timestamp TEXT NOT NULL,
    accepted_suggestions TEXT,
    override_reason TEXT,
    UNIQUE(service_id, card, outcome, outcome_timestamp)
);
