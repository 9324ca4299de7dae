-- draw: the prize fund of rooms, winners, and the audit record of every draw (docs/draw.md).
-- room_id and participant_id refer to rooms' data: no foreign key across schemas (SPEC §1).

CREATE TABLE prizes (
    id                 text PRIMARY KEY,
    room_id            text NOT NULL,
    name               text NOT NULL,
    description        text NOT NULL DEFAULT '',
    quantity           integer NOT NULL CONSTRAINT prizes_quantity_positive CHECK (quantity >= 1),
    -- the invariant the draw and revoke transactions keep: remaining + live winners = quantity
    quantity_remaining integer NOT NULL,
    metadata           jsonb NOT NULL DEFAULT '{}',
    idempotency_key    text,
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at         timestamptz,
    CONSTRAINT prizes_remaining_range CHECK (quantity_remaining BETWEEN 0 AND quantity),
    -- CreatePrize replay: the first prize made with (room, idempotency-key)
    CONSTRAINT prizes_room_key UNIQUE (room_id, idempotency_key)
);
-- ListPrizes: a room's live prizes in (created_at, id) keyset order.
CREATE INDEX prizes_room_created ON prizes (room_id, created_at, id) WHERE deleted_at IS NULL;

-- The last draw number given in each room: DrawWinners increments it inside its transaction,
-- so numbers are gapless and unique per room (a rolled-back draw gives its number back).
CREATE TABLE room_draw_counters (
    room_id     text PRIMARY KEY,
    last_number bigint NOT NULL
);

-- One row per draw: enough to recompute its winners (`confetti draw verify`).
CREATE TABLE draws (
    id                     text PRIMARY KEY,
    room_id                text NOT NULL,
    prize_id               text NOT NULL REFERENCES prizes (id) ON DELETE RESTRICT,
    draw_number            bigint NOT NULL,
    algorithm              text NOT NULL,
    seed                   text NOT NULL,
    eligible_digest        text NOT NULL,
    eligible_count         bigint NOT NULL CHECK (eligible_count >= 1),
    count                  integer NOT NULL CHECK (count >= 1 AND count <= eligible_count),
    winner_participant_ids text[] NOT NULL,
    idempotency_key        text,
    drawn_by               text NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- GetDraw by number is not an API; this guards the counter's promise
    CONSTRAINT draws_room_number UNIQUE (room_id, draw_number),
    -- DrawWinners replay: the first result of (room, key); NULL keys never collide
    CONSTRAINT draws_room_key UNIQUE (room_id, idempotency_key)
);

CREATE TABLE winners (
    id             text PRIMARY KEY,
    room_id        text NOT NULL,
    prize_id       text NOT NULL REFERENCES prizes (id) ON DELETE RESTRICT,
    participant_id text NOT NULL,
    user_id        text NOT NULL,
    draw_id        text NOT NULL REFERENCES draws (id) ON DELETE RESTRICT,
    metadata       jsonb NOT NULL DEFAULT '{}',
    revoked_reason text,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at     timestamptz,
    CONSTRAINT winners_revoked_reason CHECK ((deleted_at IS NULL) = (revoked_reason IS NULL))
);
-- A participant wins a given prize at most once, revoked or not: makes a double win impossible
-- under any concurrency, and is the index DrawWinners reads a prize's past winners with.
CREATE UNIQUE INDEX winners_prize_participant ON winners (prize_id, participant_id);
-- ONE_WIN_PER_ROOM: the room's live winners (exclusion list, and the in-transaction check).
CREATE INDEX winners_room_live ON winners (room_id, participant_id) WHERE deleted_at IS NULL;
-- ListWinners of a room, and of one prize, in (created_at, id) keyset order; the draw's
-- winners (GetDraw replay) by draw_id.
CREATE INDEX winners_room_created ON winners (room_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX winners_prize_created ON winners (prize_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX winners_draw ON winners (draw_id);
