-- 003_deleting.sql — DeleteApp's lease (docs/catalog.md, "Rooms check"): set before catalog
-- asks rooms whether live rooms use the app, while it is in the future GetApp reports the app as
-- `deleting` and rooms refuses to attach it to a new room; the delete itself only happens while
-- the lease still has 30 s to run, so no room created after rooms' check can meet a deleted
-- app. A catalog that dies mid-way leaves a lease that simply runs out (60 s).
ALTER TABLE apps ADD COLUMN deleting_until timestamptz;
