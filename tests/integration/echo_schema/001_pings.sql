-- The test service's schema: proves migrations run at start and are recorded.
CREATE TABLE pings (
    id bigserial PRIMARY KEY,
    text text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
