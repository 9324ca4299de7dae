-- The test publisher's own data: one row per change, so atomicity with the outbox is visible.
CREATE TABLE things (
    id text PRIMARY KEY,
    n bigint NOT NULL
);
