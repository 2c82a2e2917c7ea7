-- Turnstile on PostgreSQL with the schema's owner kept apart from the role the daemon
-- runs as. The runtime role can read and write the store's rows but owns no table, so it
-- cannot alter, disable or drop the audit trail's triggers (which refuse UPDATE, DELETE
-- and TRUNCATE on the trail), nor drop or truncate the trail.
--
-- Run once as a database administrator, naming the two roles and the schema:
--
--   psql -v owner=turnstile_owner -v runtime=turnstile -v schema=turnstile \
--        -d turnstile -f schemas/postgres-roles.sql
--
-- then give each role its password (ALTER ROLE … PASSWORD, or your IdP's mechanism), and:
--   1. as the owner, once and at every upgrade: `turnstile migrate` with
--      [store] url naming the owner and schema = "turnstile";
--   2. run the daemons as the runtime role, with the same schema.
-- The runtime role's rights on tables the owner makes later (new migrations) follow from
-- the default privileges below.
-- tests/it/store_roles.rs runs this file, then checks the runtime role cannot touch the
-- triggers.

CREATE ROLE :"owner" LOGIN;
CREATE ROLE :"runtime" LOGIN;
CREATE SCHEMA :"schema" AUTHORIZATION :"owner";
GRANT USAGE ON SCHEMA :"schema" TO :"runtime";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema"
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"runtime";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema"
    GRANT USAGE, SELECT ON SEQUENCES TO :"runtime";
