"""The curated training manifest (manifest.parquet) and the dataset summary (summary.json)."""

from curate.export.manifest import build_manifest, summarise
from curate.export.stage import run_export

__all__ = ["build_manifest", "run_export", "summarise"]
