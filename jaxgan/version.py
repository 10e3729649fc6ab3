"""jaxgan's version (pyproject.toml declares the same): a leaf module, so that what records
the version (the metrics' protocol) does not import the package's public API."""

__version__ = '0.2.0'
