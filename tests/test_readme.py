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


def test_the_cpu_install_comes_first_and_pins_what_pyproject_pins():
    """A CPU user reads the CPU wheels' command before the default one (whose Linux torch bundles
    CUDA), and it installs the torch / torchvision pyproject requires, so `pip install -e .`
    keeps them instead of fetching the CUDA wheels."""
    import tomllib

    text = README.read_text(encoding="utf-8")
    install = text[text.index("## Install and run") :]
    commands = re.findall(r"```bash\n(.*?)```", install, re.S)
    assert "download.pytorch.org/whl/cpu" in commands[0] and "--example digits" in commands[0]
    assert "whl/cpu" not in commands[1] and "pip install -e ." in commands[1]
    project = tomllib.loads((README.parent / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [d for d in project if d.startswith(("torch==", "torchvision=="))]
    assert len(pins) == 2 and all(pin in commands[0] for pin in pins), pins
