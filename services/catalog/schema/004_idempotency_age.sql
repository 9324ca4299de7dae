-- 004_idempotency_age.sql — idempotency keys are kept catalog.idempotency_ttl (24 h by default;
-- issue 24 item 1, docs/catalog.md "Idempotency keys"): each claim frees the oldest expired rows,
-- which this index finds without a scan.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
