"""One format for the log lines of every process (the API, its embedded warehouse, the CLI), so they read as one."""

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
