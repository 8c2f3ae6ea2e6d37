"""DuckDB, imported the ordinary way. Kept only for the modules issue 24 is rewriting
(feedback_server.py, masking.py), which still import it from here; every other module imports
duckdb itself. To be removed once they do."""

import duckdb

__all__ = ["duckdb"]
