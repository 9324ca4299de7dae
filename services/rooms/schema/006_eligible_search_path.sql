-- 006_eligible_search_path.sql — 005's trigger function resolved its tables through the caller's
-- search_path, so a participants write from a session whose search_path did not start with this
-- schema (a seed tool, an operator's psql) failed. Pin it to the schema it was created in, as
-- 004's functions are.
ALTER FUNCTION eligible_versions_bump() SET search_path FROM CURRENT;
