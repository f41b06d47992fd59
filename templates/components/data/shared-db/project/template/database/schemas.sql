-- One service's schema in the shared database, and the role that owns it and may use nothing
-- else. Run by a superuser (or the database owner) in the shared database, once per service:
--
--   psql -v ON_ERROR_STOP=1 -v role=users -v schema=users -v password=... -f database/schemas.sql
--
-- Idempotent: run it again after adding a service or to change a password. Used by the Compose
-- init script, the Kubernetes Job, the infrastructure code and the services' isolation test.
\set QUIET on

-- Nobody gets anything by default: not the database, not the public schema.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()) \gexec
REVOKE ALL ON SCHEMA public FROM PUBLIC;

-- The role: logs in, owns its schema, nothing else (no superuser, no CREATEDB, no CREATEROLE).
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD %L', :'role', :'password') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'role') \gexec
-- Its schema, owned by it: its migrations create and alter its tables (and alembic_version) there.
SELECT format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', :'schema', :'role') \gexec
SELECT format('ALTER SCHEMA %I OWNER TO %I', :'schema', :'role') \gexec
-- Unqualified names resolve in its own schema only (the service also sets this when it connects).
SELECT format('ALTER ROLE %I IN DATABASE %I SET search_path = %I', :'role', current_database(), :'schema') \gexec
-- No other role may use the schema: a service reaches another's data through its API only.
SELECT format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', :'schema') \gexec
