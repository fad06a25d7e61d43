import numpy as np
import pytest

from curate.data import load_embedded
from curate.embed.importer import import_arrays, load_array, normalise_labels
from curate.errors import DataError, StaleWorkspaceError, UsageError
from curate.workspace import Workspace


def test_import_roundtrip(synthetic_workspace, synthetic_small):
    data = load_embedded(synthetic_workspace)
    assert len(data) == len(synthetic_small.embeddings)
    assert data.sample_ids[0] == "0" and data.sample_ids[-1] == str(len(data) - 1)
    np.testing.assert_array_equal(data.labels, synthetic_small.labels)
    assert data.class_names == synthetic_small.class_names
    np.testing.assert_allclose(np.linalg.norm(data.embeddings, axis=1), 1.0, atol=2e-3)
    np.testing.assert_allclose(data.embeddings, synthetic_small.embeddings, atol=2e-3)


def test_reimport_same_is_noop_and_other_is_refused(synthetic_workspace, synthetic_small):
    assert (
        import_arrays(
            synthetic_workspace,
            synthetic_small.embeddings,
            synthetic_small.labels,
            class_names=synthetic_small.class_names,
        )
        is False
    )
    other = synthetic_small.embeddings[:100] * 2
    with pytest.raises(StaleWorkspaceError, match="--overwrite"):
        import_arrays(synthetic_workspace, other, synthetic_small.labels[:100])
    assert len(load_embedded(synthetic_workspace)) == len(synthetic_small.embeddings)  # untouched
    assert import_arrays(synthetic_workspace, other, synthetic_small.labels[:100], overwrite=True)
    assert len(load_embedded(synthetic_workspace)) == 100


def test_downstream_sees_stale_embeddings(tmp_path):
    ws = Workspace(tmp_path)
    emb = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    import_arrays(ws, emb, np.arange(50) % 3, shard_size=16)
    assert len(list(ws.path("embeddings").glob("part-*.parquet"))) == 4
    data = load_embedded(ws)
    assert data.class_names == ["0", "1", "2"]


@pytest.mark.parametrize(
    "emb, labels, message",
    [
        (np.zeros((0, 4)), None, "non-empty"),
        (np.ones((3, 4)), np.array([0, 1]), "labels have 2 rows"),
        (np.array([[1.0, np.nan], [1.0, 0.0]]), None, "NaN"),
        (np.array([[0.0, 0.0], [1.0, 0.0]]), None, "all-zero"),
        (np.ones((2, 2)), np.zeros((2, 1, 1)), "1-D array or an N x K"),
    ],
)
def test_bad_arrays(tmp_path, emb, labels, message):
    with pytest.raises(DataError, match=message):
        import_arrays(Workspace(tmp_path), emb, labels)
    assert not (tmp_path / "samples.parquet").exists()


def test_string_labels_and_parquet_input(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    emb = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    pq.write_table(pa.table({"embedding": list(emb), "label": list("abcabc")}), tmp_path / "e.parquet")
    loaded = load_array(tmp_path / "e.parquet")
    np.testing.assert_allclose(loaded, emb)
    ws = Workspace(tmp_path / "ws")
    import_arrays(ws, loaded, np.array(list("bcabca")))
    assert load_embedded(ws).class_names == ["a", "b", "c"]
    with pytest.raises(UsageError):
        load_array(tmp_path / "missing.npy")


def test_lengths_of_features_that_are_not_unit_length_are_kept(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype(np.float32) * rng.uniform(0.5, 4.0, size=(40, 1)).astype(np.float32)
    ws = Workspace(tmp_path / "features")
    import_arrays(ws, x, np.arange(40) % 2)
    data = load_embedded(ws)
    np.testing.assert_allclose(data.norms, np.linalg.norm(x, axis=1), rtol=1e-6)
    np.testing.assert_allclose(data.embeddings * data.norms[:, None], x, rtol=1e-5, atol=1e-6)

    unit = Workspace(tmp_path / "embeddings")
    import_arrays(unit, x / np.linalg.norm(x, axis=1, keepdims=True), np.arange(40) % 2)
    assert load_embedded(unit).norms is None
    assert not (unit.path("embeddings") / "norms.parquet").exists()


def test_integer_labels_name_the_same_classes_as_their_strings(tmp_path):
    """Labels 0..11 given as integers or as the same numbers in strings: the same class list (in
    numeric order, classes that occur), so every later stage sees the same problem."""
    labels = np.array([0, 2, 10, 11, 2, -1, 3])
    as_ints = normalise_labels(labels)
    as_strings = normalise_labels(np.array([str(v) if v >= 0 else "" for v in labels]))
    assert as_ints == as_strings
    assert as_ints[1] == ["0", "2", "3", "10", "11"]
    # with class names the integers index them, empty classes included
    assert normalise_labels(np.array([0, 2]), ["a", "b", "c"]) == (["a", "c"], ["a", "b", "c"])


def test_scan_results_do_not_depend_on_how_labels_are_spelled(tmp_path):
    from curate.scan import run_scan
    from curate.synth import make_dataset

    d = make_dataset(n=300, num_classes=12, dim=32, seed=1)
    np.save(tmp_path / "e.npy", d.embeddings.astype(np.float32))
    np.save(tmp_path / "ints.npy", d.labels)
    np.save(tmp_path / "strings.npy", np.array([str(v) for v in d.labels]))
    issues = {}
    for spelling in ("ints", "strings"):
        ws = Workspace(tmp_path / spelling)
        run_scan(None, ws, embeddings=tmp_path / "e.npy", labels=tmp_path / f"{spelling}.npy")
        issues[spelling] = ws.read_table("issues").sort_by("sample_id").to_pydict()
    for column in ("is_label_issue", "label_quality", "suggested_label", "is_duplicate", "is_outlier"):
        assert issues["ints"][column] == issues["strings"][column], column


def test_a_file_that_is_no_npy_array_says_what_it_is(tmp_path):
    text = tmp_path / "labels.npy"
    text.write_text("cat\ndog\n")
    with pytest.raises(DataError, match=r"is not a \.npy file \(no NumPy header"):
        load_array(text)
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([1, "a", None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"holds Python objects \(dtype object\), which curate does not unpickle"):
        load_array(objects)
