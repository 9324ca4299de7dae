-- The exclusion cache's delta (services/draw/excluded.h): a prize's draws numbered past the
-- cache's mark, found by one index range instead of every draw of the room.
CREATE INDEX draws_prize_number ON draws (prize_id, draw_number);
