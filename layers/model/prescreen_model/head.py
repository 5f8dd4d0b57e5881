"""The linear head on top of the sentence embeddings: softmax(E @ W + b) over the training labels.

Weights live in `weights/` next to this module: `head.npz` (W: 512 x labels, b: labels, float32) and `head.json`
(labels in column order, model name and version, the embedder it was trained on, the training data's sha256,
the seed and hyper-parameters, held-out metrics, per-label thresholds, and the npz's own sha256).
Both files are written byte-for-byte reproducibly (see `write_npz`), so a retrain on the same data is a no-op diff.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_FILE = "head.npz"
METADATA_FILE = "head.json"
NONE_LABEL = "none"
DEFAULT_THRESHOLD = 0.5
# A fixed timestamp for every zip entry: np.savez stamps the current time, which would make identical weights
# differ byte-wise between two runs (1980-01-01 is the earliest date the zip format can hold).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class HeadError(ValueError):
    """The weights or their metadata are missing, malformed or inconsistent with each other."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_npz(path: Path, arrays: Mapping[str, npt.NDArray[Any]]) -> None:
    """Write an uncompressed .npz (readable by np.load) whose bytes depend only on the arrays."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.create_system = 3  # "Unix" everywhere, not whatever platform runs the training
            info.external_attr = 0o644 << 16
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            archive.writestr(info, buffer.getvalue())


def softmax(logits: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
    """Row-wise softmax, shifted by the row maximum so large logits cannot overflow."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    probabilities: npt.NDArray[np.float64] = exp / exp.sum(axis=1, keepdims=True)
    return probabilities


@dataclass(frozen=True)
class HeadMetadata:
    name: str
    version: str
    labels: tuple[str, ...]
    embedder: str
    embedding_dim: int
    weights_sha256: str
    training_data_sha256: str
    seed: int
    thresholds: Mapping[str, float]
    training: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        """`name-version+weights digest`: pins the exact weights, so a retrain without a version bump still shows."""
        return f"{self.name}-{self.version}+{self.weights_sha256[:8]}"

    @property
    def harmful_labels(self) -> tuple[str, ...]:
        return tuple(label for label in self.labels if label != NONE_LABEL)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "model_id": self.model_id,
            "labels": list(self.labels),
            "embedder": self.embedder,
            "embedding_dim": self.embedding_dim,
            "weights_file": WEIGHTS_FILE,
            "weights_sha256": self.weights_sha256,
            "training_data_sha256": self.training_data_sha256,
            "seed": self.seed,
            "thresholds": dict(self.thresholds),
            "training": dict(self.training),
            "metrics": dict(self.metrics),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HeadMetadata:
        try:
            labels = tuple(str(label) for label in data["labels"])
            metadata = cls(
                name=str(data["name"]),
                version=str(data["version"]),
                labels=labels,
                embedder=str(data["embedder"]),
                embedding_dim=int(data["embedding_dim"]),
                weights_sha256=str(data["weights_sha256"]),
                training_data_sha256=str(data["training_data_sha256"]),
                seed=int(data["seed"]),
                thresholds={str(k): float(v) for k, v in dict(data.get("thresholds", {})).items()},
                training=dict(data.get("training", {})),
                metrics=dict(data.get("metrics", {})),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise HeadError(f"{METADATA_FILE} is malformed: {error!r}") from error
        if len(set(labels)) != len(labels) or NONE_LABEL not in labels:
            raise HeadError(f"{METADATA_FILE}: labels must be unique and include {NONE_LABEL!r}")
        unknown = set(metadata.thresholds) - set(metadata.harmful_labels)
        if unknown:
            raise HeadError(f"{METADATA_FILE}: thresholds for unknown labels {sorted(unknown)}")
        if any(not 0.0 < value <= 1.0 for value in metadata.thresholds.values()):
            raise HeadError(f"{METADATA_FILE}: thresholds must be in (0, 1]")
        return metadata


@dataclass(frozen=True, eq=False)
class LinearHead:
    weights: npt.NDArray[np.float32]  # (embedding_dim, labels)
    bias: npt.NDArray[np.float32]  # (labels,)
    metadata: HeadMetadata

    def __post_init__(self) -> None:
        labels = len(self.metadata.labels)
        if self.weights.shape != (self.metadata.embedding_dim, labels) or self.bias.shape != (labels,):
            raise HeadError(
                f"weights {self.weights.shape} / bias {self.bias.shape} do not match "
                f"{self.metadata.embedding_dim} dimensions x {labels} labels"
            )

    @property
    def labels(self) -> tuple[str, ...]:
        return self.metadata.labels

    def threshold(self, label: str) -> float:
        return self.metadata.thresholds.get(label, DEFAULT_THRESHOLD)

    def predict(self, embeddings: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
        """Probabilities (rows sum to 1), one column per label in `labels` order."""
        matrix = np.asarray(embeddings, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.weights.shape[0]:
            raise ValueError(f"expected embeddings of shape (n, {self.weights.shape[0]}), got {matrix.shape}")
        return softmax(matrix.astype(np.float64) @ self.weights.astype(np.float64) + self.bias.astype(np.float64))

    def predict_labels(self, embeddings: npt.NDArray[np.floating[Any]]) -> list[dict[str, float]]:
        """The same probabilities as `predict`, as one {label: probability} dict per row."""
        return [dict(zip(self.labels, map(float, row), strict=True)) for row in self.predict(embeddings)]

    def save(self, directory: Path) -> HeadMetadata:
        """Write head.npz then head.json (which records the npz's sha256); returns the metadata written."""
        directory.mkdir(parents=True, exist_ok=True)
        weights_path = directory / WEIGHTS_FILE
        write_npz(weights_path, {"weights": self.weights.astype(np.float32), "bias": self.bias.astype(np.float32)})
        metadata = replace(self.metadata, weights_sha256=sha256_file(weights_path))
        text = json.dumps(metadata.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        (directory / METADATA_FILE).write_text(text, encoding="utf-8")
        return metadata

    @classmethod
    def load(cls, directory: Path = WEIGHTS_DIR) -> LinearHead:
        weights_path, metadata_path = directory / WEIGHTS_FILE, directory / METADATA_FILE
        if not weights_path.is_file() or not metadata_path.is_file():
            raise HeadError(f"no trained head in {directory} (run `python -m prescreen_model.train`)")
        try:
            raw = json.loads(metadata_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise HeadError(f"{metadata_path} is not valid JSON: {error}") from error
        if not isinstance(raw, dict):
            raise HeadError(f"{metadata_path} must hold a JSON object")
        metadata = HeadMetadata.from_json(raw)
        # The digest ties the two files together: a copied npz from another training run is refused.
        actual = sha256_file(weights_path)
        if actual != metadata.weights_sha256:
            raise HeadError(
                f"{weights_path} sha256 {actual} does not match {METADATA_FILE} ({metadata.weights_sha256})"
            )
        with np.load(weights_path, allow_pickle=False) as arrays:
            weights = np.asarray(arrays["weights"], dtype=np.float32)
            bias = np.asarray(arrays["bias"], dtype=np.float32)
        return cls(weights=weights, bias=bias, metadata=metadata)


_default: LinearHead | None = None
_default_lock = threading.Lock()


def default_head() -> LinearHead:
    """The shipped head (weights/ beside this module), loaded once per process."""
    global _default
    with _default_lock:
        if _default is None:
            _default = LinearHead.load(WEIGHTS_DIR)
        return _default


def predict(embeddings: npt.NDArray[np.floating[Any]]) -> dict[str, npt.NDArray[np.float64]]:
    """Probabilities per label from the shipped head: {label: (n,) array}."""
    head = default_head()
    probabilities = head.predict(embeddings)
    return {label: probabilities[:, column] for column, label in enumerate(head.labels)}
