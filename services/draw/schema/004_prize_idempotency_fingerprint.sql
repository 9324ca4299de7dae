-- 004_prize_idempotency_fingerprint.sql — the fingerprint of the CreatePrize request that first
-- used an idempotency key (issue 25 item 1; docs/api.md, "Idempotency"): the same key with
-- another request is refused. Prizes created before this have none and replay as before.
ALTER TABLE prizes ADD COLUMN idempotency_fingerprint text;
