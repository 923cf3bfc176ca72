-- The warehouse's own database. Everything the platform sends lands here; dbt builds its marts beside it.
CREATE DATABASE IF NOT EXISTS {database};
