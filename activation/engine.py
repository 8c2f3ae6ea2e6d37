"""DuckDB as this package uses it: connections, statements and their errors.

The DuckDB distribution ships its engine as the extension module `_duckdb` and wraps it in the
`duckdb` package, whose import also builds the relation and expression APIs in Python and
looks its own version up in the installed metadata. This package never calls those, and every
`activate` process paid for them before doing anything: about 100 ms of a 0.6 s re-sync of a
million members (`import duckdb` against `import _duckdb`, duckdb 1.4 to 2.0). Both names are
the same objects, so a connection opened here and one from `duckdb` are interchangeable.

A DuckDB without that module (measured with 1.4.5, 1.5.6 and 2.0.1, which have it) is imported
whole.
"""

try:
    import _duckdb as duckdb
except ImportError:  # pragma: no cover - a DuckDB packaged otherwise
    import duckdb

__all__ = ["duckdb"]
