-- 009_search.sql — full-text search over a room's name and description (issue 18 item 4;
-- docs/rooms.md, "Search"): ListRooms?q= matches `search @@ websearch_to_tsquery('simple', q)`
-- through the GIN index below and ranks with ts_rank(search, query).
--
-- The 'simple' configuration: words are lower-cased and split, never stemmed and no stop words
-- are dropped. Room names are written in any language (the seed's Phase 2 names Yandex and VK:
-- Russian next to English); a language's stemmer would mangle every other language, and
-- choosing the configuration per room needs a language column nobody fills. The price: "prize"
-- does not find "prizes" (a client adds the form it wants, or a prefix search later).
--
-- The name weighs more than the description (weights A and B): a room named after the words
-- ranks above one that only mentions them. The column is GENERATED, so every writer (the
-- service, the seed's COPY, an operator's UPDATE) keeps it true; adding it rewrites the table
-- once (about 10 s per million rooms on the bench machine, under an ACCESS EXCLUSIVE lock).
ALTER TABLE rooms ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple'::regconfig, name), 'A') ||
    setweight(to_tsvector('simple'::regconfig, description), 'B')) STORED;

-- ListRooms?q=: WHERE search @@ $query AND deleted_at IS NULL, then visibility and filters on
-- the rows found (store.c SEARCH_SQL). Partial like the listing's indexes: deleted rooms are
-- never searched.
CREATE INDEX rooms_search_idx ON rooms USING gin (search) WHERE deleted_at IS NULL;
