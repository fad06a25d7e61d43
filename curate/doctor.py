"""``curate doctor``: what this machine can do, and the command that fixes each missing piece.

Each :class:`Finding` is one line of the screen. The essentials (Python, the installed
dependencies, torch, the model weights) decide the exit code; devices, optional extras and free
disk are reported with a fix but do not. Nothing here can hang: the only network access is the
weight loader's own reachability probe, bounded by ``timeout`` seconds.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from curate.config import DEFAULT_MODEL, DEFAULT_PRETRAINED
from curate.embed.model import PROBE_TIMEOUT_S
from curate.errors import CurateError

#: below this many free GiB a folder is reported as short of space (the default weights are ~0.6 GiB)
MIN_FREE_GIB = 2.0

MIN_PYTHON = (3, 10)

#: PyTorch's index of CPU-only wheels (no CUDA libraries: a few hundred MB instead of several GB)
CPU_WHEELS = "https://download.pytorch.org/whl/cpu"


def cpu_torch_fix() -> str:
    """The pip command that installs the CPU wheels of the torch and torchvision curate requires
    (their pinned versions, so a later ``pip install -e .`` keeps them instead of fetching the
    CUDA ones from PyPI)."""
    try:
        declared = importlib.metadata.requires("curate") or []
    except importlib.metadata.PackageNotFoundError:
        declared = []
    pins = {}
    for line in declared:
        match = re.match(r"^(torch|torchvision)\s*(==\s*[\w.]+)\s*$", line)
        if match:
            pins[match.group(1)] = match.group(1) + match.group(2).replace(" ", "")
    wanted = " ".join(pins.get(name, name) for name in ("torch", "torchvision"))
    return f"pip install --force-reinstall {wanted} --index-url {CPU_WHEELS}"


@dataclass
class Finding:
    """One thing checked: ``ok`` says whether it is there; ``essential`` whether curate can work
    without it; ``fix`` is the command (or step) that provides it, when it is not."""

    name: str
    ok: bool
    essential: bool
    detail: str
    fix: str | None = None


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution (a pip package name), or None when it is missing."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _requirements() -> dict[str | None, list[str]] | None:
    """curate's declared requirements by extra (None: the core ones), as distribution names;
    None when curate is not installed as a package (run from a source folder)."""
    try:
        declared = importlib.metadata.requires("curate") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    from packaging.requirements import InvalidRequirement, Requirement

    out: dict[str | None, list[str]] = {}
    for line in declared:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", line)
        group = extra.group(1) if extra else None
        # A requirement for another Python or platform (e.g. tomli before 3.11) is not missing here.
        if req.marker is not None and not req.marker.evaluate({"extra": group or ""}):
            continue
        out.setdefault(group, []).append(req.name)
    return out


def check_python() -> Finding:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info[:2] >= MIN_PYTHON
    return Finding("python", ok, True, f"{version} ({sys.executable})", None if ok else "use Python 3.10 or newer")


def check_packages(requirements: dict[str | None, list[str]] | None) -> list[Finding]:
    """The core dependencies (essential) and each optional extra (not)."""
    if requirements is None:
        return [Finding("dependencies", False, True, "curate is not installed as a package", "pip install -e .")]
    findings = []
    for extra, names in requirements.items():
        missing = [n for n in names if installed_version(n) is None]
        label = "dependencies" if extra is None else f"extra [{extra}]"
        detail = f"missing: {', '.join(missing)}" if missing else f"{len(names)} installed"
        fix = "pip install -e ." if extra is None else f"pip install -e '.[{extra}]'"
        findings.append(Finding(label, not missing, extra is None, detail, fix if missing else None))
    return findings


def check_torch() -> list[Finding]:
    """torch itself (essential) and the accelerators it sees (CUDA, MPS; not essential)."""
    try:
        import torch
    except Exception as exc:  # a broken install raises more than ImportError
        return [Finding("torch", False, True, f"does not import: {exc}", cpu_torch_fix())]
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    found = [Finding("torch", True, True, f"{torch.__version__} ({build})")]
    devices = []
    if torch.cuda.is_available():
        devices = [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    if devices:
        found.append(Finding("device", True, False, ", ".join(devices)))
    else:
        found.append(Finding("device", False, False, NO_DEVICE, no_device_fix(torch.version.cuda)))
    return found


NO_DEVICE = "no CUDA or MPS device: embedding runs on the CPU (slow for more than a few thousand images)"


def no_device_fix(cuda_build: str | None) -> str:
    """What to do when torch sees no accelerator, true to the torch that is installed: a CPU build
    on a GPU machine needs a CUDA build; a CUDA build that sees no GPU needs a driver (or an
    unset ``CUDA_VISIBLE_DEVICES``), and on a machine without a GPU its CUDA libraries are
    gigabytes for nothing: the CPU wheel does the same work."""
    if not cuda_build:
        return (
            "on a machine with an NVIDIA GPU, install a CUDA build of torch (https://pytorch.org/get-started/locally/)"
        )
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    why = f"CUDA_VISIBLE_DEVICES={hidden!r} hides the GPUs; " if hidden is not None and not hidden.strip(", ") else ""
    return (
        f"{why}this torch is a CUDA {cuda_build} build: with an NVIDIA GPU, check its driver (`nvidia-smi`); "
        f"without one, the CPU wheel is several GB smaller: {cpu_torch_fix()}"
    )


def check_weights(model: str, pretrained: str | None, *, timeout: float) -> Finding:
    """Can ``model`` / ``pretrained`` be loaded here: local files, the Hugging Face cache, or a
    reachable download (probed for at most ``timeout`` seconds)?"""
    from curate.embed import model as loading

    name = "weights"
    try:
        source = loading.resolve_source(model, pretrained)
    except CurateError as exc:
        return Finding(name, False, True, str(exc), loading.OFFLINE_HINT)
    what = source.description
    if source.remote:
        from huggingface_hub import constants

        if all(loading._cached(repo, file) for repo, file in source.remote):
            return Finding(name, True, True, f"{what}: in the local Hugging Face cache ({constants.HF_HUB_CACHE})")
        if constants.HF_HUB_OFFLINE:
            return Finding(name, False, True, f"{what}: not cached, and HF_HUB_OFFLINE is set", loading.OFFLINE_HINT)
        host = constants.ENDPOINT
    elif source.url:
        if loading._url_cached(source.url):
            return Finding(name, True, True, f"{what}: in the local cache (~/.cache/clip)")
        host = source.url
    else:
        return Finding(name, True, True, f"{what}: local files")
    if loading._reachable(host, timeout):
        return Finding(name, True, True, f"{what}: not cached yet; {host} is reachable, downloaded on first use")
    return Finding(
        name,
        False,
        True,
        f"{what}: not cached, and {host} is unreachable (probed for up to {timeout:g} s)",
        "copy the Hugging Face cache from a machine that has the weights, or " + loading.OFFLINE_HINT,
    )


def _free_gib(folder: Path) -> tuple[Path, float]:
    """Free space of the nearest existing folder at or above ``folder``."""
    folder = folder.expanduser().absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder, shutil.disk_usage(folder).free / 2**30


def check_disk(folders: dict[str, Path]) -> list[Finding]:
    findings = []
    for label, folder in folders.items():
        where, free = _free_gib(folder)
        ok = free >= MIN_FREE_GIB
        fix = None if ok else f"free space on {where}, or point {label} at a larger disk"
        findings.append(Finding(f"disk {label}", ok, False, f"{free:.1f} GiB free in {folder}", fix))
    return findings


def diagnose(
    workspace: str | os.PathLike[str] | None = None,
    *,
    model: str = DEFAULT_MODEL,
    pretrained: str | None = DEFAULT_PRETRAINED,
    timeout: float = PROBE_TIMEOUT_S,
) -> dict[str, Any]:
    """Check this machine: returns ``findings`` (each :class:`Finding` as a dict) and ``ok``
    (every essential finding is ok). ``workspace``, when given, adds its free disk space."""
    findings = [check_python(), *check_packages(_requirements()), *check_torch()]
    findings.append(check_weights(model, pretrained or None, timeout=timeout))
    from huggingface_hub import constants

    folders = {"workspace": Path(workspace)} if workspace is not None else {}
    folders["HF cache"] = Path(constants.HF_HUB_CACHE)
    findings += check_disk(folders)
    return {
        "ok": all(f.ok for f in findings if f.essential),
        "findings": [asdict(f) for f in findings],
    }
