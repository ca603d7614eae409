"""The one place the version is written: the package, app.conf and app.manifest take it from here."""

__version__ = "0.1.0"
