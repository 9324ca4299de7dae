-- Where rooms' subscriber is in each source's event sequence (common/events): updated in the
-- same transaction as the reaction to each event, so a restart resumes exactly after the last
-- event handled.
CREATE TABLE event_positions (
    source text PRIMARY KEY,
    seq bigint NOT NULL
);
