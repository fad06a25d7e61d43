"""The README's Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_library_example_runs(tmp_path, monkeypatch, synthetic_small, capsys):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### From Python") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    np.save(tmp_path / "E.npy", synthetic_small.embeddings[:500].astype(np.float32))
    np.save(tmp_path / "L.npy", synthetic_small.labels[:500])
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("500 ")
    assert (tmp_path / "ws" / "issues.parquet").is_file()
