"""Class-name text embeddings for zero-shot scoring: a prompt-template ensemble per class."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from curate.embed.model import LoadedModel


def default_templates() -> tuple[Callable[[str], str], ...]:
    """open_clip's short ImageNet prompt set (7 templates the CLIP authors found as good as all 80)."""
    from open_clip import SIMPLE_IMAGENET_TEMPLATES

    return tuple(SIMPLE_IMAGENET_TEMPLATES)


def prompt_name(class_name: str) -> str:
    """Folder-style class names read better in a prompt: ``golden_retriever`` -> ``golden retriever``."""
    return " ".join(class_name.replace("_", " ").split())


def template_texts(templates: Sequence[Callable[[str], str] | str]) -> list[str]:
    """The templates as strings with ``{}`` for the class (for fingerprints and display)."""
    return [t.format("{}") if isinstance(t, str) else t("{}") for t in templates]


def class_text_embeddings(
    loaded: LoadedModel,
    class_names: Sequence[str],
    *,
    templates: Sequence[Callable[[str], str] | str] | None = None,
) -> np.ndarray:
    """(K, D) float32: per class, the L2-normalised mean of its normalised prompt embeddings.

    Raises ValueError when the model has no text tower or ``class_names`` is empty.
    """
    if not loaded.has_text_tower:
        raise ValueError(f"{loaded.description} has no text tower")
    if not class_names:
        raise ValueError("no class names to embed")
    from open_clip import build_zero_shot_classifier

    weights = build_zero_shot_classifier(
        loaded.model,
        loaded.tokenizer,
        [prompt_name(c) for c in class_names],
        list(templates or default_templates()),
        num_classes_per_batch=32,
        device=loaded.device,
    )  # (D, K), columns already unit-norm in the model's dtype
    emb = weights.T.float().cpu().numpy()
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)
