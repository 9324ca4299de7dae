-- 005_eligible_versions.sql — a stamp of each room's eligible list (its live PARTICIPANTs with
-- their users), replaced in the same transaction as any change of that list, so that a reader
-- (the draw service's cache, docs/draw.md) can ask "is it still the list I have?" with one
-- point read instead of fetching 10,000 rows. Equal stamps mean the same list:
--   - triggers on participants (every writer, present and future, and bulk loads) replace the
--     stamp of each room whose eligible rows a statement inserted, removed or changed;
--   - the stamp is random (gen_random_uuid), not a counter, so a restored or recreated database
--     can never hand out an old stamp for a different list;
--   - the replacing UPDATE locks the room's stamp row until commit, so changes of one room's
--     list commit one after the other and a snapshot that sees a stamp sees exactly the changes
--     before it (ListEligibleParticipants reads the stamp in the same statement as its page).
-- Cost: writers of one room's membership serialize on its stamp row for the rest of their
-- transaction (a few statements); other rooms are not affected.
CREATE TABLE eligible_versions (
    room_id text PRIMARY KEY REFERENCES rooms (id) ON DELETE CASCADE,
    version text NOT NULL
);

INSERT INTO eligible_versions (room_id, version) SELECT id, gen_random_uuid()::text FROM rooms;

-- The rooms whose eligible list a statement changed get a new stamp (rooms in id order: two
-- statements touching the same rooms take their stamp locks in the same order).
CREATE FUNCTION eligible_versions_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO eligible_versions (room_id, version)
        SELECT room_id, gen_random_uuid()::text FROM (
            SELECT DISTINCT room_id FROM new_rows
             WHERE role = 'PARTICIPANT' AND deleted_at IS NULL) AS r
         ORDER BY room_id
        ON CONFLICT (room_id) DO UPDATE SET version = EXCLUDED.version;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO eligible_versions (room_id, version)
        SELECT room_id, gen_random_uuid()::text FROM (
            SELECT DISTINCT room_id FROM old_rows
             WHERE role = 'PARTICIPANT' AND deleted_at IS NULL) AS r
         -- a room's hard delete cascades here: its stamp is gone with it
         WHERE EXISTS (SELECT 1 FROM rooms WHERE rooms.id = r.room_id)
         ORDER BY room_id
        ON CONFLICT (room_id) DO UPDATE SET version = EXCLUDED.version;
    ELSE
        -- an updated row matters if it was or is eligible and its (room, user, eligibility)
        -- changed; a metadata-only update keeps the stamp
        INSERT INTO eligible_versions (room_id, version)
        SELECT room_id, gen_random_uuid()::text FROM (
            SELECT o.room_id FROM old_rows o LEFT JOIN new_rows n ON n.id = o.id
             WHERE o.role = 'PARTICIPANT' AND o.deleted_at IS NULL
               AND (n.id IS NULL OR (o.room_id, o.user_id, 'PARTICIPANT', true)
                    IS DISTINCT FROM (n.room_id, n.user_id, n.role, n.deleted_at IS NULL))
            UNION
            SELECT n.room_id FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id
             WHERE n.role = 'PARTICIPANT' AND n.deleted_at IS NULL
               AND (o.id IS NULL OR (n.room_id, n.user_id, 'PARTICIPANT', true)
                    IS DISTINCT FROM (o.room_id, o.user_id, o.role, o.deleted_at IS NULL))) AS r
         ORDER BY room_id
        ON CONFLICT (room_id) DO UPDATE SET version = EXCLUDED.version;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER participants_eligible_ins AFTER INSERT ON participants
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION eligible_versions_bump();
CREATE TRIGGER participants_eligible_upd AFTER UPDATE ON participants
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION eligible_versions_bump();
CREATE TRIGGER participants_eligible_del AFTER DELETE ON participants
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION eligible_versions_bump();
