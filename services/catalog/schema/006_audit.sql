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
