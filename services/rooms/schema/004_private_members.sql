-- 004_private_members.sql — ListRooms' "private rooms I belong to" as one index range scan.
--
-- Before this, that branch of ListRooms read all of the caller's memberships, looked each room
-- up by primary key and sorted (50 lookups for a member of 50 rooms, ~1 ms; a member of 200,000
-- private rooms would read them all). private_members holds one row per live membership of a
-- live private room, carrying the room's sort key (created_at, id), status and app_id, so
--   WHERE user_id = $ [AND status = $] AND (created_at, room_id) < ($ts, $id)
--   ORDER BY created_at DESC, room_id DESC
-- reads the page in index order and stops after it (docs/rooms.md, "Performance").
--
-- The rows are kept by the triggers below, inside the transaction of every change that moves
-- them: join, rejoin, leave, remove, user.deleted (participants) and status change, delete,
-- public <-> private (rooms). No store statement writes the table, so no path can forget it.
-- Public rooms have no rows here: a status change of a hot public room touches nothing.

CREATE TABLE private_members (
    user_id    text NOT NULL,
    room_id    text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    status     text NOT NULL, -- rooms.status
    app_id     text,          -- rooms.app_id
    created_at timestamptz NOT NULL, -- rooms.created_at (the listing's sort key)
    PRIMARY KEY (user_id, room_id) -- the triggers' upsert and delete of one membership
);

-- ListRooms without a status: the private branch (store.c LIST_MINE).
CREATE INDEX private_members_user_created_idx
    ON private_members (user_id, created_at, room_id);
-- ListRooms?status=: the private branch (app_id, when asked, filters the rows read).
CREATE INDEX private_members_user_status_created_idx
    ON private_members (user_id, status, created_at, room_id);
-- The rooms trigger: every member of one room (status change, delete, made public).
CREATE INDEX private_members_room_idx ON private_members (room_id);

-- Both functions run with the migration's search_path (the rooms schema), whoever fires them.

-- A participant row inserted, updated (left, rejoined) or deleted: its membership row is
-- deleted and, when the participant is live in a live private room, written again from the
-- room. The room row is read FOR SHARE: a concurrent status or visibility change of the room
-- waits for this transaction (or this one for it), so the rooms trigger below and this one
-- never work from two different pictures of the room.
CREATE FUNCTION private_members_from_participant() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    p participants;
    r rooms;
    room_found boolean;
BEGIN
    p := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    SELECT * INTO r FROM rooms WHERE id = p.room_id FOR SHARE;
    room_found := FOUND;
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM private_members WHERE user_id = OLD.user_id AND room_id = OLD.room_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.deleted_at IS NULL AND room_found AND NOT r.is_public
       AND r.deleted_at IS NULL THEN
        INSERT INTO private_members (user_id, room_id, status, app_id, created_at)
        VALUES (NEW.user_id, r.id, r.status, r.app_id, r.created_at)
        ON CONFLICT (user_id, room_id) DO UPDATE
        SET status = excluded.status, app_id = excluded.app_id, created_at = excluded.created_at;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER participants_private_members
    AFTER INSERT OR DELETE OR UPDATE OF user_id, room_id, deleted_at ON participants
    FOR EACH ROW EXECUTE FUNCTION private_members_from_participant();

-- A room whose status, visibility, deletion or app changed: its members' rows follow. A room
-- that becomes a live private room gets a row for each live member; one that stops being one
-- loses them all; otherwise the carried columns are updated.
CREATE FUNCTION private_members_from_room() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    was boolean := NOT OLD.is_public AND OLD.deleted_at IS NULL;
    now_private boolean := NOT NEW.is_public AND NEW.deleted_at IS NULL;
BEGIN
    IF now_private AND NOT was THEN
        INSERT INTO private_members (user_id, room_id, status, app_id, created_at)
        SELECT p.user_id, NEW.id, NEW.status, NEW.app_id, NEW.created_at
        FROM participants p WHERE p.room_id = NEW.id AND p.deleted_at IS NULL
        ON CONFLICT (user_id, room_id) DO UPDATE
        SET status = excluded.status, app_id = excluded.app_id, created_at = excluded.created_at;
    ELSIF now_private THEN
        UPDATE private_members
        SET status = NEW.status, app_id = NEW.app_id, created_at = NEW.created_at
        WHERE room_id = NEW.id;
    ELSIF was THEN
        DELETE FROM private_members WHERE room_id = NEW.id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER rooms_private_members
    AFTER UPDATE OF status, is_public, deleted_at, app_id, created_at ON rooms
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.is_public IS DISTINCT FROM NEW.is_public
          OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
          OR OLD.app_id IS DISTINCT FROM NEW.app_id OR OLD.created_at <> NEW.created_at)
    EXECUTE FUNCTION private_members_from_room();

-- Rooms that existed before this migration.
INSERT INTO private_members (user_id, room_id, status, app_id, created_at)
SELECT p.user_id, r.id, r.status, r.app_id, r.created_at
FROM participants p JOIN rooms r ON r.id = p.room_id
WHERE p.deleted_at IS NULL AND NOT r.is_public AND r.deleted_at IS NULL;
