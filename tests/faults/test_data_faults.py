"""Data a stage or a reader cannot use is one clear error naming what is wrong (items 8, 10)."""

from __future__ import annotations

import pytest

from curate.errors import DataError
from curate.export.stage import run_export
from curate.torch import ManifestDataset


def test_a_manifest_of_embeddings_is_refused_by_the_image_dataset(arrays_and_workspace):
    """Item 8: rows with an empty path (an embeddings import) are one clear DataError at
    construction, not FileNotFoundError('') from the first batch."""
    _, _, ws = arrays_and_workspace
    run_export(ws)
    with pytest.raises(DataError, match=r"has no image paths: it was built from --embeddings"):
        ManifestDataset(ws.path("manifest"))
