-- The transactional outbox of a publishing service (common/events, docs/events.md). Each
-- publisher's schema/NNN_outbox.sql is a copy of this file (tests/unit/events checks it).
-- Writers insert rows with seq NULL inside the transaction of their change; the relay numbers
-- committed rows (seq) in the order it finds them committed, then publishes them in seq order.
CREATE TABLE outbox (
    id bigserial PRIMARY KEY,          -- insertion order only: NOT commit order
    seq bigint UNIQUE,                 -- per-source sequence number, NULL until the relay sets it
    event_id text NOT NULL,
    body bytea NOT NULL,               -- the packed events.v1.Event (seq 0)
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_unsequenced ON outbox (id) WHERE seq IS NULL;
CREATE INDEX outbox_created ON outbox (created_at) WHERE seq IS NOT NULL;

-- One row: the last sequence number handed out and the last one published. The relay locks it
-- (FOR UPDATE), which serializes relays of all replicas.
CREATE TABLE outbox_state (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_seq bigint NOT NULL DEFAULT 0,
    published_seq bigint NOT NULL DEFAULT 0
);
INSERT INTO outbox_state DEFAULT VALUES;
