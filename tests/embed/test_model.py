import time

import numpy as np
import pytest
import torch

from curate.config import DEFAULT_MODEL, DEFAULT_PRETRAINED
from curate.device import resolve_device
from curate.embed.model import load_model, resolve_source
from curate.errors import ModelLoadError, UsageError

OFFLINE_ENDPOINT = "https://curate-offline.invalid"  # .invalid never resolves (RFC 2606)


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty hub cache and an unreachable hub, whatever network the test machine has."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", OFFLINE_ENDPOINT)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def test_local_dir_loads_the_saved_weights(tiny_clip_dir):
    loaded = load_model(f"local-dir:{tiny_clip_dir}", None, device="cpu")
    assert loaded.image_size == (32, 32) and loaded.has_text_tower and loaded.device == "cpu"
    saved = torch.load(tiny_clip_dir / "open_clip_pytorch_model.bin", weights_only=True)
    for name, tensor in loaded.model.state_dict().items():
        torch.testing.assert_close(tensor, saved[name])
    assert loaded.tokenizer(["a photo of a cat"]).shape == (1, 16)


def test_pretrained_file_with_registered_config(tiny_clip_checkpoint):
    name, ckpt = tiny_clip_checkpoint
    loaded = load_model(name, str(ckpt), device="cpu")
    saved = torch.load(ckpt, weights_only=True)
    torch.testing.assert_close(loaded.model.visual.proj, saved["visual.proj"])
    identity = resolve_source(name, str(ckpt)).identity
    assert identity["pretrained_file"]["size"] == ckpt.stat().st_size


def test_identity_follows_the_weights_not_the_path(tiny_clip_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_clip_dir, copy)
    a = resolve_source(f"local-dir:{tiny_clip_dir}", None).identity
    assert resolve_source(f"local-dir:{copy}", None).identity["weights"] == a["weights"]
    weights = copy / "open_clip_pytorch_model.bin"
    state = torch.load(weights, weights_only=True)
    state["visual.proj"] = state["visual.proj"] + 1
    torch.save(state, weights)
    assert resolve_source(f"local-dir:{copy}", None).identity["weights"] != a["weights"]


def test_local_dir_without_weights_is_refused_not_randomised(tiny_clip_dir, tmp_path):
    folder = tmp_path / "no_weights"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text((tiny_clip_dir / "open_clip_config.json").read_text())
    with pytest.raises(ModelLoadError, match="no weights"):
        load_model(f"local-dir:{folder}", None, device="cpu")


@pytest.mark.parametrize(
    "model, pretrained, message",
    [
        ("NoSuchNet-42", "x", "unknown open_clip model"),
        ("ViT-B-32", None, "needs weights"),
        ("ViT-B-32", "", "needs weights"),
        ("ViT-B-32", "no_such_tag", "neither a known tag"),
    ],
)
def test_bad_names_are_usage_errors(model, pretrained, message):
    with pytest.raises(UsageError, match=message):
        resolve_source(model, pretrained)


@pytest.mark.parametrize(
    "model, pretrained, message",
    [
        ("ViT-B-32", "/nowhere/ckpt.pt", "does not exist"),
        ("local-dir:/nowhere/model", None, "does not exist"),
    ],
)
def test_missing_model_files_are_model_errors(model, pretrained, message):
    """Item 5: every problem with the model's files is a ModelLoadError (exit 1)."""
    with pytest.raises(ModelLoadError, match=message):
        resolve_source(model, pretrained)


def test_local_dir_missing_config(tmp_path):
    with pytest.raises(ModelLoadError, match="open_clip_config.json"):
        resolve_source(f"local-dir:{tmp_path}", None)


def test_wrong_checkpoint_names_the_keys(tiny_clip_checkpoint, tmp_path):
    """Item 4: the message carries torch's reason, not just its first line."""
    name, _ = tiny_clip_checkpoint
    bad = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3)}, bad)
    with pytest.raises(ModelLoadError) as info:
        load_model(name, str(bad), device="cpu")
    message = str(info.value)
    assert message.startswith(f"could not load {name}")
    assert "Missing key(s) in state_dict (" in message and '", ...' in message
    assert 'Unexpected key(s) in state_dict (1): "weight"' in message
    assert "\n" not in message and len(message) < 600
    assert isinstance(info.value.__cause__, RuntimeError)  # --debug shows torch's full traceback


class _RunsCode:
    def __reduce__(self):
        return (print, ("this ran while loading a checkpoint",))


def test_a_checkpoint_cannot_run_code(tiny_clip_checkpoint, tmp_path, capsys):
    """Checkpoints load with torch.load(weights_only=True): a pickle that would run code is refused."""
    name, _ = tiny_clip_checkpoint
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": _RunsCode()}, evil)
    with pytest.raises(ModelLoadError, match="could not load"):
        load_model(name, str(evil), device="cpu")
    assert "this ran" not in capsys.readouterr().out


def test_default_model_offline_fails_fast_with_a_hint(offline_hub):
    start = time.perf_counter()
    with pytest.raises(ModelLoadError) as info:
        load_model(DEFAULT_MODEL, DEFAULT_PRETRAINED, device="cpu")
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "local-dir:PATH" in message and "--pretrained FILE" in message and "\n" not in message


def test_hf_hub_offline_fails_fast(offline_hub):
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match="laion/CLIP-ViT-B-32"):
        load_model("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K", None, device="cpu")
    assert time.perf_counter() - start < 5


def test_cached_weights_load_without_network(offline_hub, tiny_clip_dir, tmp_path):
    """A hub repository already in the local cache loads with the hub unreachable."""
    import shutil

    from huggingface_hub import constants

    snapshot = f"{constants.HF_HUB_CACHE}/models--curate--tiny/snapshots/0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_clip_dir, snapshot)
    refs = tmp_path / "hf-cache" / "models--curate--tiny" / "refs"
    refs.mkdir()
    (refs / "main").write_text("0123456789abcdef0123456789abcdef01234567")
    loaded = load_model("hf-hub:curate/tiny", None, device="cpu")
    assert loaded.image_size == (32, 32)
    assert constants.HF_HUB_OFFLINE is False  # offline mode was only for the load


def test_resolve_device():
    assert resolve_device("cpu") == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device("auto") == expected
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA"):
            resolve_device("cuda")


def test_text_embeddings_are_a_normalised_template_mean(tiny_clip_dir):
    from curate.embed.text import class_text_embeddings, prompt_name

    loaded = load_model(f"local-dir:{tiny_clip_dir}", None, device="cpu")
    templates = ["a photo of a {}.", "art of the {}."]
    emb = class_text_embeddings(loaded, ["golden_retriever", "cat"], templates=templates)
    assert prompt_name("golden_retriever") == "golden retriever"
    with torch.no_grad():
        per_prompt = loaded.model.encode_text(
            loaded.tokenizer([t.format("golden retriever") for t in templates]), normalize=True
        )
    mean = per_prompt.mean(0).numpy()
    np.testing.assert_allclose(emb[0], mean / np.linalg.norm(mean), atol=1e-5)
    assert emb.shape == (2, 16) and emb.dtype == np.float32


@pytest.mark.parametrize(
    "content, suffix, says",
    [
        (
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
            + b" " * 53
            + b"\n"
            + b"\0" * 8,
            ".npy",
            "big_vision SigLIP weights",
        ),
        (bytes(range(256)) * 20, ".pt", "not a tensors-only PyTorch checkpoint"),
        (b"just some text\n", ".pt", "give a PyTorch state dict"),
    ],
)
def test_a_file_that_is_no_checkpoint_is_one_line_without_unsafe_advice(
    tiny_clip_checkpoint, tmp_path, content, suffix, says
):
    name, _ = tiny_clip_checkpoint
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(content)
    with pytest.raises(ModelLoadError) as info:
        load_model(name, str(bad), device="cpu")
    message = str(info.value)
    assert message.startswith(f"could not load {name} ({bad})") and says in message, message
    assert "weights_only" not in message and "AttributeError: 'VisionTransformer'" not in message
    assert "\n" not in message
