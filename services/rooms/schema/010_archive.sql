-- 010_archive.sql — rooms COMPLETED or CANCELLED for longer than rooms.archive_after are
-- archived (issue 18 item 7; docs/rooms.md, "Archive"): archived_at is set by the maintenance
-- job `archive`, the room leaves every listing but ListRooms archived=true (its members, platform
-- admins) and becomes read-only; GetRoom still answers its members.
ALTER TABLE rooms ADD COLUMN archived_at timestamptz;

-- The job's scan: finished rooms not archived yet, oldest change first.
CREATE INDEX rooms_finished_idx ON rooms (updated_at)
    WHERE archived_at IS NULL AND deleted_at IS NULL AND status IN ('COMPLETED', 'CANCELLED');

-- The public listing's two indexes hold live, unarchived rooms only (the listing's branches
-- read them index-only; their predicate is the listing's filter).
DROP INDEX rooms_status_public_created_idx;
CREATE INDEX rooms_status_public_created_idx
    ON rooms (status, is_public, created_at, id) WHERE deleted_at IS NULL AND archived_at IS NULL;
DROP INDEX rooms_public_created_idx;
CREATE INDEX rooms_public_created_idx
    ON rooms (is_public, created_at, id) WHERE deleted_at IS NULL AND archived_at IS NULL;

-- Platform admins' archived listing, newest first.
CREATE INDEX rooms_archived_created_idx ON rooms (created_at, id)
    WHERE archived_at IS NOT NULL AND deleted_at IS NULL;
