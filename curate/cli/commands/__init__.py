"""Command modules, one per stage family. Importing one registers its commands on ``main``."""
