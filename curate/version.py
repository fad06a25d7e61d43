"""curate's version, in a module of its own so the storage layer can put it in every fingerprint
without importing the package (whose ``__init__`` imports the workspace, which imports storage)."""

__version__ = "0.1.0"
