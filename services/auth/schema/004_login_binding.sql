-- 004_login_binding.sql — a login started through the gateway is bound to the browser that
-- started it (login CSRF): the gateway sets a random cookie and passes it as browser_binding;
-- only its SHA-256 is kept here, and the callback must bring the same cookie back. '' = a
-- login begun without one (internal callers), not checked.
ALTER TABLE login_states ADD COLUMN binding_hash text NOT NULL DEFAULT '';
