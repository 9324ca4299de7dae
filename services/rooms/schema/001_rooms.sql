-- 001_rooms.sql — rooms and their participants (SPEC §2). Statuses and roles are stored by
-- their rooms.v1 enum names, so the proto stays the one list (the CHECKs guard the column).
-- Every index below names the store.c statement it serves; EXPLAIN output is in docs/rooms.md.

CREATE TABLE rooms (
    id                   text PRIMARY KEY,
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description          text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    status               text NOT NULL DEFAULT 'DRAFT'
                         CHECK (status IN ('DRAFT', 'ACTIVE', 'COMPLETED', 'CANCELLED')),
    is_public            boolean NOT NULL,
    app_id               text,
    app_manifest_version text,
    app_settings         jsonb,
    draw_policy          text NOT NULL DEFAULT 'ONE_WIN_PER_PRIZE'
                         CHECK (draw_policy IN ('ONE_WIN_PER_PRIZE', 'ONE_WIN_PER_ROOM')),
    created_by           text NOT NULL,
    -- the creator's idempotency-key metadata: a replayed CreateRoom finds the first room
    idempotency_key      text,
    starts_at            timestamptz,
    ends_at              timestamptz,
    created_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at           timestamptz,
    CHECK ((app_id IS NULL) = (app_manifest_version IS NULL)),
    CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at)
);

-- ListRooms filtered by status (the hot "ACTIVE public rooms, newest first" page):
--   WHERE deleted_at IS NULL AND status = $ AND is_public [AND app_id = $]
--     AND (created_at, id) < ($ts, $id) ORDER BY created_at DESC, id DESC LIMIT n
-- SPEC §2's (status, is_public, app_id) with the keyset appended so the page is read in order
-- and stops after n rows; app_id is a filter on the rows read (see docs/rooms.md).
CREATE INDEX rooms_status_public_created_idx
    ON rooms (status, is_public, created_at, id) WHERE deleted_at IS NULL;

-- ListRooms without a status filter (public branch, and admins' "everything" listing):
--   WHERE deleted_at IS NULL AND is_public ... ORDER BY created_at DESC, id DESC LIMIT n
CREATE INDEX rooms_public_created_idx
    ON rooms (is_public, created_at, id) WHERE deleted_at IS NULL;

-- ListRooms?appId= (and the same list per app for catalog's "is this app used" question):
--   WHERE deleted_at IS NULL AND app_id = $ ... ORDER BY created_at DESC, id DESC LIMIT n
-- SPEC §2's (app_id, app_manifest_version) is replaced by this: no query here filters on the
-- version, and ordering by the keyset is what the listing needs.
CREATE INDEX rooms_app_created_idx
    ON rooms (app_id, created_at, id) WHERE deleted_at IS NULL AND app_id IS NOT NULL;

-- CreateRoom replay: INSERT … ON CONFLICT (created_by, idempotency_key) DO NOTHING.
CREATE UNIQUE INDEX rooms_idempotency_idx
    ON rooms (created_by, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE participants (
    id         text PRIMARY KEY,
    room_id    text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    text NOT NULL,
    role       text NOT NULL
               CHECK (role IN ('ADMIN', 'ORGANIZER', 'MODERATOR', 'PARTICIPANT', 'VIEWER')),
    metadata   jsonb NOT NULL DEFAULT '{}',
    joined_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at timestamptz -- = left
);

-- SPEC §2: unique (user_id, room_id) — a user who leaves and rejoins gets the same row back
-- (AddParticipant's INSERT … ON CONFLICT (user_id, room_id)). Also serves every membership
-- probe: the caller's role in a room (GetRoom, CheckPermission, every method's visibility
-- check: WHERE user_id = $ AND room_id = $) and ListRooms' "private rooms I belong to" branch
-- (WHERE user_id = $ AND deleted_at IS NULL). Keyed by user first so a hot room's 10,000 rows
-- never enter a point lookup (peers/README.md).
CREATE UNIQUE INDEX participants_user_room_idx ON participants (user_id, room_id);

-- SPEC §2's (room_id, role), with id appended for the keyset:
--   ListEligibleParticipants: WHERE room_id = $ AND role = 'PARTICIPANT' AND deleted_at IS NULL
--                             AND id > $ ORDER BY id LIMIT n
--   ListParticipants?role=:   same shape with the asked role
--   last-organizer check:     count(*) WHERE room_id = $ AND role = 'ORGANIZER' AND live
CREATE INDEX participants_room_role_idx
    ON participants (room_id, role, id) WHERE deleted_at IS NULL;

-- ListParticipants without a role filter: WHERE room_id = $ AND deleted_at IS NULL AND id > $
-- ORDER BY id LIMIT n. (Rows are only soft-deleted, so the cascade never needs a full index.)
CREATE INDEX participants_room_idx ON participants (room_id, id) WHERE deleted_at IS NULL;
