"""Built-in embedders.

An embedder plugin may name a Rust handler (``native_config()``). The resolution policy
(RFC-0006): use the Rust handler when the native library has that kind, otherwise the
plugin's own Python implementation. Both give the same vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from .. import models
from .._native import NativeEmbedder, embedder_kinds
from ..errors import ModelError, RuntimeLoadError


class _NativeBacked:
    """Shared plumbing for embedders that run in the native library."""

    _native: Optional[NativeEmbedder] = None
    _described: Optional[Dict[str, Any]] = None

    def native_config(self) -> Dict[str, Any]:  # pragma: no cover - overridden
        raise ModelError("no native handler", ModelError.code)

    def _prepare(self) -> None:
        """Hook run before the native handler is created."""

    def _handle(self) -> NativeEmbedder:
        if self._native is None:
            self._prepare()
            try:
                self._native = NativeEmbedder.create(json.dumps(self.native_config()))
            except RuntimeLoadError as exc:
                raise models.with_runtime_hint(exc) from exc
        return self._native

    def _native_describe(self) -> Dict[str, Any]:
        if self._described is None:
            self._described = json.loads(self._handle().describe())
        return dict(self._described)

    def close(self) -> None:
        if self._native is not None:
            self._native.close()
            self._native = None


class HashEmbedder(_NativeBacked):
    """Model-free embeddings computed in Rust: signed feature hashing of words and
    character n-grams, L2-normalised. Matches shared words and spellings, not meaning."""

    max_tokens: Optional[int] = None

    def __init__(self, dimension: int = 256, char_ngram: int = 3) -> None:
        self._config: Dict[str, Any] = {"kind": "hash", "dimension": dimension, "char_ngram": char_ngram}

    def native_config(self) -> Dict[str, Any]:
        return dict(self._config)

    @property
    def dimension(self) -> int:
        return int(self._config["dimension"])

    def describe(self) -> Mapping[str, Any]:
        return self._native_describe()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._handle().embed([t.encode("utf-8") for t in texts], self.dimension)

    def token_counts(self, texts: Sequence[str]) -> List[int]:
        return self._handle().token_counts([t.encode("utf-8") for t in texts])


#: The Rust model embedder's batch when none is set (``DEFAULT_BATCH_SIZE`` in
#: rust/src/embed/onnx.rs), and the Python path's.
NATIVE_DEFAULT_BATCH = 4
PYTHON_DEFAULT_BATCH = 1
#: Texts per call of :meth:`OnnxEmbedder.embed_with_progress` (rounded up to whole
#: model batches): a progress report about every second on 2 cores, and two batches for
#: each of the Rust path's sessions (one per core) so none of them waits idle.
PROGRESS_STEP = 16


class OnnxEmbedder(_NativeBacked):
    """A sentence-embedding model in ONNX format (model.onnx plus tokenizer files).

    Runs in Rust (fastembed over ONNX Runtime) when the native library has the ``onnx``
    handler, else in Python (onnxruntime + tokenizers). ``pooling`` is ``mean`` or ``cls``;
    vectors are always L2-normalised; texts longer than ``max_tokens`` word pieces are
    truncated (``token_counts`` tells which). ``batch_size`` defaults to what measured
    fastest on 2 cores (benches/bench_embed.py): 4 texts of similar length for the Rust
    path, 1 for the Python path (which batches in input order and pads to the longest)."""

    def __init__(
        self,
        model_file: os.PathLike[str] | str,
        tokenizer_dir: os.PathLike[str] | str,
        *,
        model_id: Optional[str] = None,
        pooling: str = "mean",
        max_tokens: int = 256,
        batch_size: Optional[int] = None,
        threads: Optional[int] = None,
        sessions: Optional[int] = None,
        prefer_native: bool = True,
    ) -> None:
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        self.model_file = Path(model_file)
        self.tokenizer_dir = Path(tokenizer_dir)
        self.model_id = model_id or self.model_file.resolve().parent.name
        self.pooling = pooling
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.threads = threads
        self.sessions = sessions
        self.native = prefer_native and "onnx" in embedder_kinds()
        self._python: Optional[_PythonOnnx] = None

    @classmethod
    def packaged(cls, model: models.PackagedModel = models.DEFAULT_MODEL, **settings: Any) -> OnnxEmbedder:
        """A model installed from PyPI packages (by default all-MiniLM-L6-v2)."""
        paths = models.packaged_paths(model)
        if paths is None:
            raise ModelError(
                f"model '{model.model_id}' is not installed; {models.INSTALL_HINT}", ModelError.code
            )
        settings.setdefault("pooling", model.pooling)
        settings.setdefault("max_tokens", model.max_tokens)
        return cls(paths["model_file"], paths["tokenizer_dir"], model_id=model.model_id, **settings)

    @classmethod
    def from_dir(cls, model_dir: os.PathLike[str] | str, **settings: Any) -> OnnxEmbedder:
        """A local folder with model.onnx, tokenizer.json, config.json,
        special_tokens_map.json and tokenizer_config.json."""
        d = Path(model_dir)
        if not (d / "model.onnx").is_file():
            raise ModelError(f"no model.onnx in {d}", ModelError.code)
        settings.setdefault("model_id", d.resolve().name)
        return cls(d / "model.onnx", d, **settings)

    def native_config(self) -> Dict[str, Any]:
        config: Dict[str, Any] = {
            "kind": "onnx",
            "model_id": self.model_id,
            "model_file": str(self.model_file),
            "tokenizer_dir": str(self.tokenizer_dir),
            "pooling": self.pooling,
            "max_tokens": self.max_tokens,
        }
        if self.batch_size is not None:
            config["batch_size"] = self.batch_size
        if self.threads is not None:
            config["threads"] = self.threads
        if self.sessions is not None:
            config["sessions"] = self.sessions
        return config

    def _prepare(self) -> None:
        models.ensure_runtime()

    def _py(self) -> _PythonOnnx:
        if self._python is None:
            self._python = _PythonOnnx(self)
        return self._python

    @property
    def dimension(self) -> int:
        return int(self.describe()["dimension"])

    def describe(self) -> Mapping[str, Any]:
        return self._native_describe() if self.native else self._py().describe()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.native:
            return self._handle().embed([t.encode("utf-8") for t in texts], self.dimension)
        return self._py().embed(texts)

    def token_counts(self, texts: Sequence[str]) -> List[int]:
        if self.native:
            return self._handle().token_counts([t.encode("utf-8") for t in texts])
        return self._py().token_counts(texts)

    def embed_with_progress(self, texts: Sequence[str], done: Callable[[int], None]) -> np.ndarray:
        """The vectors of ``embed(texts)``, bit for bit, computed a few model batches at
        a time, calling ``done(n)`` after each ``n`` texts (for a progress display).

        A model batch's vectors may depend on the other texts in it (a model whose
        activations are quantized with ranges over the whole batch; the default model's
        do not), so the model batches stay those of one ``embed`` call: the
        Rust path sorts a call's texts by (token count up to ``max_tokens``, position)
        and batches neighbours, so this sorts the same way and cuts at whole batches;
        the Python path batches in input order, so this cuts in input order."""
        if self.native:
            batch = self.batch_size or NATIVE_DEFAULT_BATCH
            lengths = self.token_counts(texts)
            order = sorted(range(len(texts)), key=lambda i: (min(lengths[i], self.max_tokens), i))
        else:
            batch = self.batch_size or PYTHON_DEFAULT_BATCH
            order = list(range(len(texts)))
        step = batch * -(-PROGRESS_STEP // batch)
        if len(texts) <= step:
            out = self.embed(texts)
            done(len(texts))
            return out
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for lo in range(0, len(order), step):
            rows = order[lo : lo + step]
            out[rows] = self.embed([texts[i] for i in rows])
            done(len(rows))
        return out


class _PythonOnnx:
    """The Python implementation of OnnxEmbedder: onnxruntime + tokenizers, the same
    tokenization, pooling and normalisation as the Rust handler."""

    def __init__(self, spec: OnnxEmbedder) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelError(
                f"the Python ONNX embedder needs onnxruntime and tokenizers ({exc}); {models.INSTALL_HINT}",
                ModelError.code,
            ) from exc
        self.spec = spec
        tok_dir = spec.tokenizer_dir
        config = json.loads((tok_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
        model_config = json.loads((tok_dir / "config.json").read_text(encoding="utf-8"))
        limit = min(spec.max_tokens, int(config.get("model_max_length", spec.max_tokens)))
        pad = config.get("pad_token", "[PAD]")
        pad_token = pad["content"] if isinstance(pad, dict) else str(pad)
        self.counter = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
        self.counter.no_truncation()
        self.counter.no_padding()
        self.tokenizer = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=limit)
        pad_id = model_config.get("pad_token_id")
        if pad_id is None:
            pad_id = self.tokenizer.token_to_id(pad_token) or 0
        self.tokenizer.enable_padding(pad_id=int(pad_id), pad_token=pad_token)
        options = onnxruntime.SessionOptions()
        if spec.threads is not None:
            options.intra_op_num_threads = spec.threads
        model_bytes = spec.model_file.read_bytes()
        self.sha256 = hashlib.sha256(model_bytes).hexdigest()
        self.session = onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        self.output = "last_hidden_state" if "last_hidden_state" in outputs else outputs[0]
        self.dimension = int(self.embed(["dimension probe"]).shape[1])

    def describe(self) -> Dict[str, Any]:
        return {
            "kind": "onnx",
            "model_id": self.spec.model_id,
            "sha256": self.sha256,
            "dimension": self.dimension,
            "pooling": self.spec.pooling,
            "normalize": True,
            "max_tokens": self.spec.max_tokens,
        }

    def token_counts(self, texts: Sequence[str]) -> List[int]:
        return [len(e.ids) for e in self.counter.encode_batch(list(texts))]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        step = self.spec.batch_size or 1
        for lo in range(0, len(texts), step):
            encodings = self.tokenizer.encode_batch(list(texts[lo : lo + step]))
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
            out = self.session.run([self.output], feed)[0]
            if out.ndim == 3:
                if self.spec.pooling == "cls":
                    out = out[:, 0]
                else:
                    m = mask[:, :, None].astype(np.float32)
                    out = (out * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            rows.append((out / np.clip(norms, 1e-12, None)).astype(np.float32))
        if not rows:
            return np.empty((0, getattr(self, "dimension", 0)), dtype=np.float32)
        return np.concatenate(rows)
