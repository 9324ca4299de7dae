-- 001: the tables the db tests use. Comments hold "quotes", back\slashes and ??= trigraphs,
-- which the embedding must carry through untouched.
CREATE TABLE items (
    id int PRIMARY KEY,
    name text NOT NULL UNIQUE,
    qty int NOT NULL DEFAULT 1 CHECK (qty >= 0)
);

CREATE TABLE parts (
    id int PRIMARY KEY,
    item_id int NOT NULL REFERENCES items (id) ON DELETE RESTRICT
);
