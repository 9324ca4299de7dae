-- 002: a row whose text holds what a C string literal could trip on
CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);
INSERT INTO notes (body) VALUES (E'quote'' dq" backslash\\ ??= tab\t é ✓ */ /*');
