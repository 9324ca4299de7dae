-- 001_apps.sql — the catalog schema: apps, every published manifest, idempotency keys.
-- Each index names the query (store.c statement) it serves.

CREATE TABLE apps (
    id                      text PRIMARY KEY,              -- internal CUID
    app_id                  text NOT NULL,                 -- public client id (a CUID)
    app_secret_hash         bytea NOT NULL,                -- SHA-256 of the current secret
    prev_secret_hash        bytea,                         -- the one before, during its grace
    prev_secret_valid_until timestamptz,
    owner_user_id           text NOT NULL,
    name                    text NOT NULL,
    manifest                jsonb NOT NULL,                -- the current manifest, complete
    manifest_version        text NOT NULL,                 -- its semver
    manifest_seq            integer NOT NULL DEFAULT 1,    -- publications so far (1 = first)
    is_active               boolean NOT NULL DEFAULT true,
    created_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at              timestamptz,
    CONSTRAINT apps_secret_hash_len CHECK (octet_length(app_secret_hash) = 32),
    CONSTRAINT apps_prev_secret CHECK ((prev_secret_hash IS NULL) = (prev_secret_valid_until IS NULL))
);

-- app_get, app_get_for_update, app_verify_get…: every per-app call looks the app up by its
-- public id.
CREATE UNIQUE INDEX apps_app_id ON apps (app_id);
-- SPEC §2: the secret hash is unique (two apps with one secret would be a generator failure;
-- the constraint makes it impossible rather than unlikely).
CREATE UNIQUE INDEX apps_secret_hash ON apps (app_secret_hash);
-- app_list (no owner filter): live apps in (created_at, id) keyset order.
CREATE INDEX apps_live_created ON apps (created_at, id) WHERE deleted_at IS NULL;
-- app_list with owner_user_id: one owner's live apps in keyset order.
CREATE INDEX apps_owner_created ON apps (owner_user_id, created_at, id) WHERE deleted_at IS NULL;

-- Every published manifest of an app, the current one included (apps.manifest holds a copy of
-- the current one for GetApp); the earlier ones are the manifest history of SPEC §2, each
-- complete with its publish time and publisher.
CREATE TABLE manifests (
    app_pk       text NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    version      text NOT NULL,
    seq          integer NOT NULL,                          -- 1, 2, 3… in publication order
    manifest     jsonb NOT NULL,
    published_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_by text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- manifest_get (GetManifest, ValidateSettings of a given version) looks a version up; the
    -- uniqueness is also the last guard against two publications of one version.
    PRIMARY KEY (app_pk, version)
);
-- manifest_list: newest first, keyset on seq; unique, so also a guard on publication order.
CREATE UNIQUE INDEX manifests_app_seq ON manifests (app_pk, seq);

-- RegisterApp and RegenerateSecret replays: (caller, method, key) → the app and a fingerprint of
-- the request, so a replay returns the first result and a reused key with another request is
-- refused.
CREATE TABLE idempotency_keys (
    caller       text NOT NULL,
    method       text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    app_pk       text NOT NULL REFERENCES apps (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (caller, method, key)                       -- idem_claim, idem_get
);
