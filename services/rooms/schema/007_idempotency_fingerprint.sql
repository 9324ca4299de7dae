-- 007_idempotency_fingerprint.sql — the fingerprint of the CreateRoom request that first used an
-- idempotency key (issue 25 item 1; docs/api.md, "Idempotency"): the same key with another
-- request is refused. Rooms created before this have none and replay as before.
ALTER TABLE rooms ADD COLUMN idempotency_fingerprint text;
