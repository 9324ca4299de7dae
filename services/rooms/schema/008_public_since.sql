-- 008_public_since.sql — when a room was last made public (NULL while it is private), for
-- Room.visible_since (issue 24 item 3; docs/gateway.md, "History keeps its privacy"): no event
-- from before a reader could see the room reaches that reader. Rooms public before this take
-- their last change as the moment (at or after the real one: errs towards showing less).
ALTER TABLE rooms ADD COLUMN public_since timestamptz;
UPDATE rooms SET public_since = updated_at WHERE is_public;
