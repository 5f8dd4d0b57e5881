"""The linear head: softmax arithmetic, byte-stable weight files, refusal of inconsistent files, the shipped head."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from prescreen_model import embedder
from prescreen_model.head import (
    METADATA_FILE,
    WEIGHTS_DIR,
    WEIGHTS_FILE,
    HeadError,
    HeadMetadata,
    LinearHead,
    default_head,
    predict,
    sha256_file,
    softmax,
)
from prescreen_model.train import DATA_PATH, LABELS

LABELS3 = ("none", "childlike_sex_doll", "firearms")


def tiny_head(**metadata_changes: object) -> LinearHead:
    """Three labels over 4-dimensional embeddings: dimension k (k < 3) votes strongly for label k."""
    fields: dict[str, object] = {
        "name": "tiny",
        "version": "0.0.1",
        "labels": LABELS3,
        "embedder": "fake==1",
        "embedding_dim": 4,
        "weights_sha256": "",
        "training_data_sha256": "0" * 64,
        "seed": 7,
        "thresholds": {"childlike_sex_doll": 0.5, "firearms": 0.5},
    }
    fields.update(metadata_changes)
    weights = np.zeros((4, 3), dtype=np.float32)
    weights[0, 0] = weights[1, 1] = weights[2, 2] = 10.0
    return LinearHead(weights=weights, bias=np.zeros(3, dtype=np.float32), metadata=HeadMetadata(**fields))  # type: ignore[arg-type]


def test_softmax_rows_sum_to_one_even_for_huge_logits() -> None:
    # Given logits far beyond exp()'s float range
    logits = np.array([[1000.0, 999.0, -1000.0], [0.0, 0.0, 0.0]])
    # When normalised
    probabilities = softmax(logits)
    # Then nothing overflows and each row is a distribution
    assert np.all(np.isfinite(probabilities))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(probabilities[1], 1 / 3)
    assert probabilities[0, 0] == pytest.approx(1 / (1 + np.exp(-1)))


def test_predict_gives_one_distribution_per_embedding_in_label_order() -> None:
    head = tiny_head()
    embeddings = np.eye(4, dtype=np.float32)[[1, 2, 0]]
    probabilities = head.predict(embeddings)
    assert probabilities.shape == (3, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert list(probabilities.argmax(axis=1)) == [1, 2, 0]
    assert head.predict_labels(embeddings[:1])[0]["childlike_sex_doll"] > 0.99


def test_predict_rejects_embeddings_of_the_wrong_width() -> None:
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        tiny_head().predict(np.zeros((2, 5), dtype=np.float32))


def test_weights_and_labels_must_agree() -> None:
    with pytest.raises(HeadError, match="do not match"):
        LinearHead(weights=np.zeros((4, 2), np.float32), bias=np.zeros(3, np.float32), metadata=tiny_head().metadata)


def test_save_then_load_round_trips_and_pins_the_weights_digest(tmp_path: Path) -> None:
    # Given a head saved to a directory
    written = tiny_head().save(tmp_path)
    # When it is loaded back
    loaded = LinearHead.load(tmp_path)
    # Then arrays, labels and metadata survive, and the id carries the npz's digest
    np.testing.assert_array_equal(loaded.weights, tiny_head().weights)
    np.testing.assert_array_equal(loaded.bias, tiny_head().bias)
    assert loaded.metadata == written
    assert written.weights_sha256 == sha256_file(tmp_path / WEIGHTS_FILE)
    assert loaded.metadata.model_id == f"tiny-0.0.1+{written.weights_sha256[:8]}"
    assert loaded.metadata.harmful_labels == ("childlike_sex_doll", "firearms")


def test_saved_files_are_byte_identical_and_carry_no_clock(tmp_path: Path) -> None:
    # Given the same head saved twice
    tiny_head().save(tmp_path / "a")
    tiny_head().save(tmp_path / "b")
    # Then the bytes match, and no zip entry carries the current time (np.savez would stamp it)
    for name in (WEIGHTS_FILE, METADATA_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with zipfile.ZipFile(tmp_path / "a" / WEIGHTS_FILE) as archive:
        assert sorted(archive.namelist()) == ["bias.npy", "weights.npy"]
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    with np.load(tmp_path / "a" / WEIGHTS_FILE, allow_pickle=False) as arrays:
        assert arrays["weights"].dtype == np.float32


def test_load_refuses_weights_from_another_run(tmp_path: Path) -> None:
    # Given saved files whose npz is then replaced by other weights
    tiny_head().save(tmp_path)
    other = tiny_head()
    other.weights[3, 1] = 1.0
    other.save(tmp_path / "other")
    (tmp_path / WEIGHTS_FILE).write_bytes((tmp_path / "other" / WEIGHTS_FILE).read_bytes())
    # Then loading fails on the digest instead of serving a mismatched pair
    with pytest.raises(HeadError, match="does not match"):
        LinearHead.load(tmp_path)


def test_load_explains_missing_or_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(HeadError, match="no trained head"):
        LinearHead.load(tmp_path)
    tiny_head().save(tmp_path)
    (tmp_path / METADATA_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(HeadError, match="not valid JSON"):
        LinearHead.load(tmp_path)
    (tmp_path / METADATA_FILE).write_text(json.dumps({"labels": ["none"]}), encoding="utf-8")
    with pytest.raises(HeadError, match="malformed"):
        LinearHead.load(tmp_path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"thresholds": {"scams": 0.5}}, "unknown labels"),
        ({"thresholds": {"firearms": 0.0}}, r"in \(0, 1\]"),
        ({"labels": ("childlike_sex_doll", "firearms", "x")}, "include 'none'"),
    ],
)
def test_metadata_is_validated_on_load(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    tiny_head().save(tmp_path)
    raw = json.loads((tmp_path / METADATA_FILE).read_text(encoding="utf-8"))
    raw.update({key: list(value) if isinstance(value, tuple) else value for key, value in changes.items()})
    (tmp_path / METADATA_FILE).write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(HeadError, match=message):
        LinearHead.load(tmp_path)


def test_the_shipped_head_is_complete_small_and_trained_on_the_current_data() -> None:
    head = default_head()
    metadata = head.metadata
    assert head.labels == LABELS
    assert head.weights.shape == (512, len(LABELS))
    assert (WEIGHTS_DIR / WEIGHTS_FILE).stat().st_size < 64 * 1024
    # A changed training file without a retrain shows up here, not in production.
    assert metadata.training_data_sha256 == sha256_file(DATA_PATH)
    assert metadata.embedder == embedder.embedder_id()
    assert set(metadata.thresholds) == set(LABELS[1:])
    held_out = metadata.metrics["held_out"]
    assert held_out["at_threshold"]["harmful_recall"] >= 0.80
    assert held_out["at_threshold"]["none_flagged_rate"] <= 0.02


def test_module_level_predict_maps_labels_to_columns() -> None:
    embeddings = np.zeros((2, 512), dtype=np.float32)
    embeddings[:, 0] = 1.0
    by_label = predict(embeddings)
    assert list(by_label) == list(LABELS)
    np.testing.assert_allclose(sum(by_label.values()), 1.0)
