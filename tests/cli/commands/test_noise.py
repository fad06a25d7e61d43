import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.schemas import NOISE


def noisy_probs(n: int = 400, k: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities from a decent model, labels with 10 % flipped; returns (labels, probs, flipped)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), truth] += 3
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = truth.copy()
    flipped = rng.random(n) < 0.1
    labels[flipped] = (truth[flipped] + rng.integers(1, k, flipped.sum())) % k
    return labels, probs, flipped


def run(tmp_path, labels, probs, *extra):
    np.save(tmp_path / "L.npy", labels)
    np.save(tmp_path / "P.npy", probs)
    return CliRunner().invoke(
        main,
        [
            "noise",
            "--labels",
            str(tmp_path / "L.npy"),
            "--pred-probs",
            str(tmp_path / "P.npy"),
            "-o",
            str(tmp_path / "issues.parquet"),
            *extra,
        ],
    )


@pytest.mark.parametrize("label_dtype", [np.int8, np.uint16, np.int64])
@pytest.mark.parametrize("prob_dtype", [np.float16, np.float32, np.float64])
def test_writes_the_contract_columns(tmp_path, label_dtype, prob_dtype):
    labels, probs, flipped = noisy_probs()
    result = run(tmp_path, labels.astype(label_dtype), probs.astype(prob_dtype))
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / "issues.parquet")
    assert table.schema.equals(NOISE, check_metadata=False)
    assert table.column("sample_id").to_pylist()[:3] == ["0", "1", "2"]
    flagged = table.column("is_label_issue").to_numpy()
    tp = (flagged & flipped).sum()
    assert tp / flagged.sum() > 0.7 and tp / flipped.sum() > 0.7
    assert "label issues" in result.output and "issues.parquet" in result.output


def test_json_summary(tmp_path):
    labels, probs, _ = noisy_probs()
    result = run(tmp_path, labels, probs, "--json")
    assert result.exit_code == 0
    summary = json.loads(result.output)
    assert summary["num_samples"] == 400 and summary["num_classes"] == 5
    assert 0 < summary["label_issue_rate"] < 0.3 and len(summary["noise_rate"]) == 5


def test_one_class_is_skipped_not_an_error(tmp_path):
    result = run(tmp_path, np.zeros(10, dtype=np.int64), np.ones((10, 1)))
    assert result.exit_code == 0
    assert "skipped: one class" in result.output
    assert not pq.read_table(tmp_path / "issues.parquet").column("is_label_issue").to_numpy().any()


def bad_inputs():
    labels, probs, _ = noisy_probs(n=50)
    not_summing = probs.copy()
    not_summing[7] *= 2
    with_nan = probs.copy()
    with_nan[3, 1] = np.nan
    out_of_range = labels.copy()
    out_of_range[4] = 5
    negative = labels.copy()
    negative[0] = -1
    negative_probs = probs.copy()
    negative_probs[2, 0] -= 2 * negative_probs[2, 0]
    negative_probs[2, 1] += 2 * probs[2, 0]
    return {
        "rows must sum to 1": (labels, not_summing),
        "NaN": (labels, with_nan),
        "out of range": (out_of_range, probs),
        "out of range 0..4 (first: row 0": (negative, probs),
        "must be integers": (labels.astype(np.float64), probs),
        "has 50 rows but pred_probs has 49": (labels, probs[:49]),
        "N x K": (labels, probs[:, 0]),
        "1-D": (labels[:, None], probs),
        "negative values": (labels, negative_probs),
        "floating point": (labels, (probs * 0).astype(np.int64)),
    }


@pytest.mark.parametrize("message", list(bad_inputs()))
def test_bad_data_is_one_clear_error_and_exit_1(tmp_path, message):
    labels, probs = bad_inputs()[message]
    result = run(tmp_path, labels, probs)
    assert result.exit_code == 1, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert not (tmp_path / "issues.parquet").exists()


def test_string_labels_are_refused(tmp_path):
    _, probs, _ = noisy_probs(n=4)
    result = run(tmp_path, np.array(["a", "b", "a", "b"]), probs)
    assert result.exit_code == 1 and "must be integers" in result.stderr


def test_missing_input_is_a_usage_error(tmp_path):
    labels, probs, _ = noisy_probs(n=20)
    np.save(tmp_path / "P.npy", probs)
    result = CliRunner().invoke(
        main,
        [
            "noise",
            "--labels",
            str(tmp_path / "nope.npy"),
            "--pred-probs",
            str(tmp_path / "P.npy"),
            "-o",
            str(tmp_path / "out.parquet"),
        ],
    )
    assert result.exit_code == 2 and "nope.npy does not exist" in result.stderr


def test_missing_output_folder_is_a_usage_error(tmp_path):
    labels, probs, _ = noisy_probs(n=20)
    result = run(tmp_path, labels, probs)
    assert result.exit_code == 0
    result = CliRunner().invoke(
        main,
        [
            "noise",
            "--labels",
            str(tmp_path / "L.npy"),
            "--pred-probs",
            str(tmp_path / "P.npy"),
            "-o",
            str(tmp_path / "no" / "out.parquet"),
        ],
    )
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_missing_required_option_is_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["noise", "--labels", "L.npy"])
    assert result.exit_code == 2
