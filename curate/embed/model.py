"""Loading a CLIP model through open_clip, failing fast and clearly when weights are out of reach.

``--model`` and ``--pretrained`` pass straight to open_clip's ``create_model_and_transforms``:

* ``--model ViT-B-32 --pretrained laion2b_s34b_b79k``: a built-in architecture and a weight tag
  (downloaded from the Hugging Face hub, or found in its local cache);
* ``--model ViT-B-32 --pretrained /path/ckpt.pt``: a built-in (or registered) architecture and a
  local checkpoint file;
* ``--model hf-hub:ORG/REPO``: config and weights from a hub repository (``--pretrained`` ignored);
* ``--model local-dir:PATH``: a folder laid out like a hub repository, i.e. ``open_clip_config.json``
  next to the weights (``open_clip_pytorch_model.bin`` / ``open_clip_model.safetensors``).

Two open_clip behaviours are wrapped on purpose. A weight download on a machine without network
retries for most of a minute before it fails; here, when the weights are not in the local cache,
a two-second reachability probe of the hub decides first, and an unreachable hub is a
:class:`ModelLoadError` saying how to point at local weights. And open_clip quietly initialises
random weights when a ``local-dir`` or ``hf-hub`` source has a config but no weights; here that is
an error too (``require_pretrained=True``): embeddings of a random network look like embeddings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import re
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.device import resolve_device
from curate.errors import ModelLoadError, UsageError

#: How long the hub reachability probe may take before the hub counts as unreachable.
PROBE_TIMEOUT_S = 2.5

#: Weight file names open_clip looks for in a ``local-dir:`` folder (its hub layout).
LOCAL_DIR_WEIGHT_GLOBS = ("*.safetensors", "*.bin", "*.pth")

OFFLINE_HINT = (
    "to run without network, pass local weights: --model local-dir:PATH (a folder with "
    "open_clip_config.json and open_clip_pytorch_model.bin) or --pretrained FILE (a checkpoint)"
)


@dataclass
class ModelSource:
    """Where a model's config and weights come from, resolved without loading anything.

    ``identity`` is JSON-serialisable and changes whenever the weights or architecture do; it is
    what the embed stage fingerprints. ``remote`` lists ``(repo_id, filename)`` hub files the
    load needs, ``url`` a plain download, both empty for local sources.
    """

    kind: str  # tag | file | local-dir | hf-hub
    model: str
    pretrained: str | None
    identity: dict[str, Any]
    remote: list[tuple[str, str]] = field(default_factory=list)
    url: str | None = None

    @property
    def description(self) -> str:
        if self.kind in ("local-dir", "hf-hub"):
            return self.model
        return f"{self.model} ({self.pretrained})"


@dataclass
class LoadedModel:
    """A ready-to-run open_clip model.

    preprocess:  PIL RGB image -> (3, H, W) float32 tensor (open_clip's eval transform)
    tokenizer:   list[str] -> (n, context_length) int64 tokens, or None without a text tower
    image_size:  (H, W) the vision tower's input size
    """

    model: Any
    preprocess: Any
    tokenizer: Any
    image_size: tuple[int, int]
    has_text_tower: bool
    description: str
    device: str
    identity: dict[str, Any] = field(default_factory=dict)


def _file_digest(path: Path) -> dict[str, Any]:
    """Size and a hash of the first and last 4 MiB: changes with the weights, costs milliseconds,
    and (unlike mtime) survives copying the file to another machine."""
    size = path.stat().st_size
    h = hashlib.blake2b(digest_size=16)
    chunk = 4 << 20
    with open(path, "rb") as f:
        h.update(f.read(chunk))
        if size > chunk:
            f.seek(max(chunk, size - chunk))
            h.update(f.read(chunk))
    return {"name": path.name, "size": size, "blake2b_ends": h.hexdigest()}


def _json_digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _looks_like_path(value: str) -> bool:
    return os.sep in value or "/" in value or Path(value).suffix in (".pt", ".pth", ".bin", ".safetensors", ".npz")


def resolve_source(model: str, pretrained: str | None) -> ModelSource:
    """Check ``model``/``pretrained`` and say where the weights come from, touching no network.

    Raises :class:`UsageError` for a malformed request (an unknown architecture or tag, a built-in
    architecture without weights, which would be randomly initialised) and
    :class:`ModelLoadError` for the model's files (a missing folder, config or checkpoint, no
    weights): exit 2 for the command line, exit 1 for the model.
    """
    import open_clip
    from open_clip.factory import parse_model_name

    base = {"open_clip": open_clip.__version__}
    try:
        schema, ident = parse_model_name(model)
    except ValueError as exc:
        raise UsageError(f"--model {model!r}: {exc}") from None

    if schema == "local-dir":
        folder = Path(ident).expanduser()
        if not folder.is_dir():
            raise ModelLoadError(f"--model {model}: folder {folder} does not exist")
        config = folder / "open_clip_config.json"
        if not config.is_file():
            raise ModelLoadError(
                f"--model {model}: {config} is missing (a local-dir model needs open_clip_config.json)"
            )
        try:
            config_json = json.loads(config.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ModelLoadError(f"--model {model}: {config} is not valid JSON ({exc})") from None
        if "model_cfg" not in config_json:
            raise ModelLoadError(f"--model {model}: {config} has no 'model_cfg' (open_clip's hub layout)")
        weights = sorted(p for pattern in LOCAL_DIR_WEIGHT_GLOBS for p in folder.glob(pattern))
        if not weights:
            raise ModelLoadError(
                f"--model {model}: {folder} has open_clip_config.json but no weights "
                "(open_clip_pytorch_model.bin or open_clip_model.safetensors); refusing random weights"
            )
        identity = {
            **base,
            "local_dir": folder.name,
            "config": _json_digest(config_json),
            "weights": [_file_digest(p) for p in weights],
        }
        return ModelSource("local-dir", f"local-dir:{folder}", None, identity)

    if schema == "hf-hub":
        from open_clip.pretrained import HF_WEIGHTS_NAME

        identity = {**base, "hf_hub": ident}
        return ModelSource(
            "hf-hub", model, None, identity, remote=[(ident, "open_clip_config.json"), (ident, HF_WEIGHTS_NAME)]
        )

    name = ident.replace("/", "-")
    config = open_clip.get_model_config(name)
    if config is None:
        raise UsageError(
            f"unknown open_clip model {model!r}; use a name from open_clip.list_models() "
            "(e.g. ViT-B-32), hf-hub:ORG/REPO or local-dir:PATH"
        )
    base["config"] = _json_digest(config)
    if not pretrained:
        raise UsageError(
            f"--model {model} needs weights: pass --pretrained TAG (e.g. "
            f"{', '.join(open_clip.list_pretrained_tags_by_model(name)[:3]) or 'a tag'}) or --pretrained FILE; "
            "curate never embeds with random weights"
        )
    tag_cfg = open_clip.get_pretrained_cfg(name, pretrained)
    if tag_cfg:
        source = ModelSource("tag", name, pretrained, {**base, "model": name, "pretrained": pretrained})
        if tag_cfg.get("file"):
            return source
        hub = tag_cfg.get("hf_hub", "")
        if hub:
            repo, filename = os.path.split(hub)
            from open_clip.pretrained import HF_WEIGHTS_NAME

            source.remote = [(repo, filename or HF_WEIGHTS_NAME)]
        else:
            source.url = tag_cfg.get("url") or None
        return source
    path = Path(pretrained).expanduser()
    if path.is_file():
        identity = {**base, "model": name, "pretrained_file": _file_digest(path)}
        return ModelSource("file", name, str(path), identity)
    if _looks_like_path(pretrained):
        raise ModelLoadError(f"--pretrained {pretrained}: file does not exist")
    tags = open_clip.list_pretrained_tags_by_model(name)
    raise UsageError(
        f"--pretrained {pretrained!r} is neither a known tag for {name} "
        f"({', '.join(tags) if tags else 'it has none'}) nor an existing checkpoint file"
    )


def _cached(repo_id: str, filename: str) -> bool:
    """Is a hub file (or the safetensors twin open_clip prefers) in the local HF cache?"""
    from huggingface_hub import try_to_load_from_cache
    from open_clip.pretrained import _get_safe_alternatives

    for name in (*_get_safe_alternatives(filename), filename):
        if isinstance(try_to_load_from_cache(repo_id, name), str):
            return True
    return False


def _url_cached(url: str) -> bool:
    return (Path("~/.cache/clip").expanduser() / os.path.basename(url)).is_file()


def _reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Can a TCP connection be opened to ``url``'s host (or the https proxy) within ``timeout``?

    Runs in a daemon thread so a hanging DNS lookup (common on air-gapped clusters) cannot hold
    the command past ``timeout`` either.
    """
    parsed = urllib.parse.urlsplit(url)
    host, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parsed.scheme)
    if proxy and host and not urllib.request.proxy_bypass(host):
        proxied = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxied.hostname, proxied.port or 8080
    if not host:
        return False
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """Serve hub files from the local cache only: no HEAD request that could hang or retry."""
    from huggingface_hub import constants

    saved_const, saved_env = constants.HF_HUB_OFFLINE, os.environ.get("HF_HUB_OFFLINE")
    constants.HF_HUB_OFFLINE = True
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved_const
        if saved_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved_env


def _access(source: ModelSource) -> contextlib.AbstractContextManager[None]:
    """How to reach the weights: from the cache offline, over the network, or not at all (raise)."""
    if source.remote:
        from huggingface_hub import constants

        if all(_cached(repo, name) for repo, name in source.remote):
            return _hub_offline()
        where = constants.ENDPOINT
        if constants.HF_HUB_OFFLINE:
            reason = "HF_HUB_OFFLINE is set"
        elif not _reachable(where):
            reason = f"{urllib.parse.urlsplit(where).hostname} is unreachable"
        else:
            return contextlib.nullcontext()
        repos = ", ".join(sorted({repo for repo, _ in source.remote}))
        raise ModelLoadError(
            f"cannot download weights for {source.description} from the Hugging Face hub "
            f"({repos}): {reason} and they are not in the local cache; {OFFLINE_HINT}"
        )
    if source.url and not _url_cached(source.url) and not _reachable(source.url):
        raise ModelLoadError(
            f"cannot download weights for {source.description} from {source.url}: "
            f"{urllib.parse.urlsplit(source.url).hostname} is unreachable; {OFFLINE_HINT}"
        )
    return contextlib.nullcontext()


def _image_size(model: Any) -> tuple[int, int]:
    size = getattr(getattr(model, "visual", None), "image_size", 224)
    if isinstance(size, int):
        return (size, size)
    return (int(size[0]), int(size[1]))


#: the longest reason a model error quotes from the exception behind it
REASON_CHARS = 400


#: torch's "Missing key(s) in state_dict: "a", "b"." lines of a checkpoint that does not fit
_KEY_LIST = re.compile(r"^((?:Missing|Unexpected) key\(s\) in state_dict): (.*)$")
#: keys named per list; the rest are counted
SHOWN_KEYS = 3


def _reason(exc: BaseException) -> str:
    """What went wrong, on one line: every line of the exception's message (torch puts the
    missing and unexpected keys of a checkpoint on the lines after "Error(s) in loading
    state_dict for CLIP:"), key lists shortened to their count and first keys, cut at
    :data:`REASON_CHARS`."""
    parts = []
    for line in str(exc).strip().splitlines():
        line = line.strip().rstrip(".").strip()
        keys = _KEY_LIST.match(line)
        if keys:
            names = re.findall(r'"([^"]+)"', keys.group(2))
            shown = ", ".join(f'"{name}"' for name in names[:SHOWN_KEYS])
            line = f"{keys.group(1)} ({len(names)}): {shown}{', ...' if len(names) > SHOWN_KEYS else ''}"
        if line:
            parts.append(line)
    text = "; ".join(parts).replace(":;", ":")
    if len(text) > REASON_CHARS:
        text = text[: REASON_CHARS - 3].rstrip() + "..."
    return text or type(exc).__name__


#: torch's refusal of a file ``weights_only=True`` cannot read, which goes on to advise the unsafe
#: ``weights_only=False``; the detail after "WeightsUnpickler error:" is what the file held
_WEIGHTS_ONLY = re.compile(
    r"Weights only load failed.*?WeightsUnpickler error:\s*(.*?)\s*(?:Check the documentation|$)", re.S
)


def checkpoint_problem(source: ModelSource, exc: BaseException) -> str:
    """Why a ``--pretrained FILE`` did not load into ``model``, on one line, in words a user can act
    on: never torch's advice to load with ``weights_only=False`` (that would run code from the file),
    never a bare internal error (open_clip reads ``.npy`` / ``.npz`` as big_vision SigLIP weights and
    fails with an ``AttributeError`` on other architectures)."""
    start = f"could not load {source.description}"
    expected = "give a PyTorch state dict (.pt / .pth / .bin, tensors only) or .safetensors of that architecture"
    text = str(exc)
    unpickled = _WEIGHTS_ONLY.search(text)
    if unpickled or isinstance(exc, pickle.UnpicklingError):
        detail = " ".join((unpickled.group(1) if unpickled else text).split())
        why = "not a tensors-only PyTorch checkpoint" + (f" ({detail})" if detail else "")
        return f"{start}: {why}, and curate never loads code from a checkpoint; {expected}"
    if Path(source.pretrained or "").suffix in (".npy", ".npz"):
        return (
            f"{start}: open_clip reads .npy / .npz files as big_vision SigLIP weights, which do not fit "
            f"{source.model}; {expected}"
        )
    if isinstance(exc, RuntimeError) and "state_dict" in text:
        return f"{start}: {_reason(exc)}"  # the missing and unexpected keys say what does not fit
    return f"{start}: not a checkpoint of {source.model} ({type(exc).__name__}: {_reason(exc)}); {expected}"


def wrap_model(
    model: Any,
    preprocess: Any,
    tokenizer: Any,
    *,
    description: str,
    device: str,
    identity: dict[str, Any] | None = None,
) -> LoadedModel:
    """Put an already-built open_clip model (on ``device``, eval mode) into a :class:`LoadedModel`."""
    model.eval()
    return LoadedModel(
        model=model,
        preprocess=preprocess,
        tokenizer=tokenizer,
        image_size=_image_size(model),
        has_text_tower=tokenizer is not None and hasattr(model, "encode_text"),
        description=description,
        device=device,
        identity=dict(identity or {}),
    )


def load_model(model: str, pretrained: str | None, *, device: str = "auto") -> LoadedModel:
    """Load an open_clip model and its eval preprocessing, never with random weights.

    Raises :class:`UsageError` for a malformed ``model``/``pretrained`` and
    :class:`ModelLoadError` (within seconds when offline) when the weights cannot be had.
    """
    source = resolve_source(model, pretrained)
    return load_source(source, device=device)


def load_source(source: ModelSource, *, device: str = "auto") -> LoadedModel:
    """Load a model from an already-resolved :class:`ModelSource` (see :func:`load_model`)."""
    import open_clip

    device = resolve_device(device)
    with _access(source):
        try:
            net, _, preprocess = open_clip.create_model_and_transforms(
                source.model,
                pretrained=source.pretrained,
                device=device,
                require_pretrained=True,
                weights_only=True,  # a checkpoint is tensors, never code to run (safetensors preferred)
            )
        except Exception as exc:
            if source.kind == "file" and source.pretrained is not None:
                # a user's file can fail in any way torch or open_clip reads it; say which file and why
                raise ModelLoadError(checkpoint_problem(source, exc)) from exc
            if not isinstance(exc, (RuntimeError, ValueError, OSError, KeyError, pickle.UnpicklingError)):
                raise
            raise ModelLoadError(f"could not load {source.description}: {_reason(exc)}") from exc
        try:
            tokenizer = open_clip.get_tokenizer(source.model)
        except (RuntimeError, ValueError, OSError, KeyError) as exc:
            from curate.progress import log

            log(f"no tokenizer for {source.description} ({_reason(exc)}); class-name text embeddings skipped")
            tokenizer = None  # images still embed; only zero-shot class prompts are lost
    return wrap_model(
        net, preprocess, tokenizer, description=source.description, device=device, identity=source.identity
    )
