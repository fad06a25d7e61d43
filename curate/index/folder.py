"""ImageFolder reader: ``DATA/<class>/<img>``, or ``DATA/<split>/<class>/<img>``.

* The first folder below DATA is the class (deeper folders belong to it, as in torchvision's
  ImageFolder); images directly in DATA are unlabelled.
* When every top-level folder is named like a split (train / val / test ...), the layout is
  ``DATA/<split>/<class>/<img>`` and the folder fills ``split``.
* Only files with an image extension are samples; hidden files and folders are skipped.
* ``sample_id`` is the POSIX path relative to DATA, so it is stable across re-runs.
"""

from __future__ import annotations

import os
from pathlib import Path

from curate.index.candidates import Candidate, is_image_name, is_split_name


def _walk_images(root: Path) -> list[str]:
    """Relative POSIX paths of image files under ``root``, sorted; follows links, never loops."""
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:  # a symlink back up the tree
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            if name.startswith(".") or not is_image_name(name):
                continue
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            found.append(rel.replace(os.sep, "/"))
    found.sort()
    return found


def list_folder(root: Path) -> list[Candidate]:
    """One candidate per image file under ``root`` (see the module docstring for the layout)."""
    rels = _walk_images(root)
    top_dirs = {rel.split("/", 1)[0] for rel in rels if "/" in rel}
    split_layout = bool(top_dirs) and all(is_split_name(d) for d in top_dirs)
    base = os.path.abspath(root)
    out: list[Candidate] = []
    for rel in rels:
        parts = rel.split("/")
        split = None
        if split_layout and len(parts) > 1:
            split, parts = parts[0], parts[1:]
        label = parts[0] if len(parts) > 1 else None
        out.append(Candidate(rel, os.path.join(base, rel), None, "folder", label, split))
    return out
