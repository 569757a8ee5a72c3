-- One database per service; each service owns its schema (Alembic) and never reads the others.
CREATE DATABASE curriculum;
CREATE DATABASE enrolment;
CREATE DATABASE certification;
CREATE DATABASE webhooks;
CREATE DATABASE portal;  -- the portal's sign-in sessions
