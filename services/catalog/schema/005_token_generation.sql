-- 005_token_generation.sql — app tokens carry sid "app:<app_id>:<token_generation>" (auth signs
-- it from VerifyAppCredentials); RegenerateSecret, DeactivateApp and DeleteApp bump the
-- generation and publish app.tokens_revoked for the old one in the same transaction, so every
-- token issued before is refused by every verifier (docs/auth.md, "Revocation").
ALTER TABLE apps ADD COLUMN token_generation bigint NOT NULL DEFAULT 0;
