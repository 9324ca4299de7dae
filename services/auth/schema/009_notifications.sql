-- 009_notifications.sql — notification preferences and the winner mails (issue 18 item 6;
-- docs/auth.md, "Notifications").

-- What a user wants to be told, and how: one row per (user, scope, event kind). room_id '' is
-- the user's defaults; any other value is an override for that room (not checked against
-- rooms: auth does not own them). No row = the built-in default (won: e-mail on when the user
-- has a verified address). The WebSocket channel is always on, so it is not stored.
CREATE TABLE notification_prefs (
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id    text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('won')),
    email      boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, room_id, kind)
);

-- The winner mails: one row per (draw, user), written with the consumer's position in one
-- transaction, so an event handled twice (a replay, a restart, another replica) finds its row
-- and sends nothing more. The sender claims due rows (FOR UPDATE SKIP LOCKED), sends, marks
-- them sent; a failure is retried with a growing delay up to notify.max_attempts.
CREATE TABLE notification_mails (
    draw_id    text NOT NULL,
    user_id    text NOT NULL,
    room_id    text NOT NULL,
    prize_id   text NOT NULL,
    event_id   text NOT NULL,
    state      text NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts   integer NOT NULL DEFAULT 0,
    next_at    bigint NOT NULL,                -- epoch seconds: due (pending), lease end (sending)
    last_error text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (draw_id, user_id)
);
CREATE INDEX notification_mails_due ON notification_mails (next_at)
    WHERE state IN ('pending', 'sending');
