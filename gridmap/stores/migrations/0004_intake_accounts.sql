-- GridMap schema 0004: what a citizen gave with a report (private contact details, kept apart
-- from the published incident), the accounts of the web service (users with password hashes,
-- API keys by their SHA-256) and the signed-in sessions (bearer tokens by their SHA-256), and the
-- sequence numbering new cases (R00000001, ...).

CREATE TABLE requests (
    incident_id text COLLATE "C" PRIMARY KEY,
    request_key text CONSTRAINT requests_request_key_key UNIQUE,
    fingerprint text,
    token text NOT NULL CONSTRAINT requests_token_key UNIQUE,
    received_at timestamptz(3) NOT NULL,
    email text,
    phone text,
    first_name text,
    last_name text,
    device_id text,
    account_id text,
    address text,
    media_url text,
    api_key text
);
CREATE INDEX requests_fingerprint ON requests (fingerprint, received_at)
    WHERE fingerprint IS NOT NULL;

CREATE TABLE accounts (
    name text COLLATE "C" PRIMARY KEY CONSTRAINT accounts_name_not_blank CHECK (name <> ''),
    kind text NOT NULL CONSTRAINT accounts_kind_valid CHECK (kind IN ('user', 'key')),
    role text NOT NULL CONSTRAINT accounts_role_valid CHECK (role IN (
        'citizen', 'dispatcher', 'planner', 'official', 'admin'
    )),
    secret text NOT NULL,
    created_at timestamptz(3) NOT NULL,
    expires_at timestamptz(3)
);

CREATE TABLE sessions (
    token text PRIMARY KEY,
    account text NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
    role text NOT NULL,
    expires_at timestamptz(3) NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE SEQUENCE incident_number;

-- Reports by time: Open311 request lists, KPIs by period, the items API's datetime filter.
CREATE INDEX incidents_reported ON incidents (reported_at);

COMMENT ON TABLE requests IS 'Intake records of reports (private: contact details)';
COMMENT ON TABLE accounts IS 'Users and API keys of the web service (hashed secrets)';
COMMENT ON TABLE sessions IS 'Signed-in sessions (hashed bearer tokens)';
