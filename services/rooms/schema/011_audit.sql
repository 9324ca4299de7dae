-- The audit log of a service (common/audit, docs/audit.md): one row per security- or
-- money-relevant action, inserted in the same transaction as the change. Each service's
-- schema/NNN_audit.sql is a copy of this file (tests/unit/audit checks it).
-- Append-only is enforced here, not hoped: UPDATE, DELETE and TRUNCATE raise, whoever runs them
-- (the service role owns the table, so a REVOKE alone would not hold).
CREATE TABLE audit_log (
    id text PRIMARY KEY,                      -- CUID
    action text NOT NULL,                     -- "room.status_changed" (docs/audit.md)
    actor_id text NOT NULL DEFAULT '',        -- the verified caller's subject; '' = anonymous
    room_id text NOT NULL DEFAULT '',
    target_type text NOT NULL DEFAULT '',
    target_id text NOT NULL DEFAULT '',
    detail text NOT NULL DEFAULT '',
    peer text NOT NULL DEFAULT '',            -- the client's address as the gateway saw it
    via text NOT NULL DEFAULT '',             -- the verified calling service
    request_id text NOT NULL DEFAULT '',
    occurred_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- the reads (common/audit/audit.c): newest first, all, by room, by actor
CREATE INDEX audit_log_time ON audit_log (occurred_at DESC, id DESC);
CREATE INDEX audit_log_room ON audit_log (room_id, occurred_at DESC, id DESC) WHERE room_id <> '';
CREATE INDEX audit_log_actor ON audit_log (actor_id, occurred_at DESC, id DESC);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

-- When each member's current role began (issue 18 item 5; docs/audit.md, "Who reads"): a room's
-- organizers read its audit log from the moment they became organizers, never from before
-- (issue 24 item 3's rule: a reader sees only what they could have seen when it happened).
-- Set on insert, on a role change and on a rejoin, by the trigger below, so no writer can
-- forget it. Rows from before this migration take their last change (at or after the real
-- moment: errs towards showing less).
ALTER TABLE participants ADD COLUMN role_since timestamptz NOT NULL DEFAULT clock_timestamp();
UPDATE participants SET role_since = updated_at;
CREATE FUNCTION participants_role_since() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.role IS DISTINCT FROM OLD.role
       OR (OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL) THEN
        NEW.role_since := clock_timestamp();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER participants_role_since BEFORE UPDATE ON participants
    FOR EACH ROW EXECUTE FUNCTION participants_role_since();
