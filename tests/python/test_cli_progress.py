"""The build's progress display: a live line on a terminal that moves within an embedding
batch and shows an ETA; plain lines at most every 30 s (and at the end) elsewhere. Time
comes from an injected clock: nothing here sleeps or measures time."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, List, Mapping, Sequence

import numpy as np
import pytest

import vpack
from vpack.cache import CachedEmbedder, EmbeddingCache
from vpack.plugins import HashEmbedder
from vpack.progress import Progress

VPACK = Path(sys.executable).with_name("vpack")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def redraws(text: str) -> List[str]:
    return [part.rstrip() for part in text.split("\r") if part]


def test_live_line_redraws_at_most_every_interval_and_shows_an_eta() -> None:
    clock, stream = Clock(), Tty()
    meter = Progress(total_documents=10, stream=stream, clock=clock)
    assert meter.enabled and meter.live
    meter.update(1, 4, 0)
    clock.now += 0.1
    meter.update(2, 8, 0)  # within 0.2 s of the last drawing: not drawn
    assert redraws(stream.getvalue()) == ["1/10 documents, 4 chunks, 0 embedded, elapsed 0:00"]
    clock.now += 9.9  # 10 s in: 5 of 10 documents gave 20 chunks, 10 embedded
    meter.update(5, 20, 10)
    # 1 chunk/s; about 40 chunks in all, so 30 left: 30 s.
    assert redraws(stream.getvalue())[-1] == (
        "5/10 documents, 20 chunks, 10 embedded (1.0/s), ETA 0:30, elapsed 0:10"
    )
    meter.stage("writing the pack")  # drawn at once, without an ETA
    assert redraws(stream.getvalue())[-1].endswith("elapsed 0:10, writing the pack")
    meter.finish()
    assert stream.getvalue().endswith("\n") and redraws(stream.getvalue())[-1].endswith(", done")
    assert "0.0/s" not in stream.getvalue()


def test_plain_lines_at_most_every_30_seconds_and_at_the_end() -> None:
    clock, stream = Clock(), io.StringIO()
    meter = Progress(total_documents=3, stream=stream, enabled=True, clock=clock)
    assert meter.enabled and not meter.live
    for step in range(1, 30):  # 29 s of updates, some forced: no line yet
        clock.now += 1
        meter.update(0, step, step, force=step % 5 == 0)
    assert stream.getvalue() == ""
    clock.now += 1  # 30 s
    meter.update(1, 30, 30)
    clock.now += 20
    meter.update(2, 40, 40)  # 20 s after the last line: none
    meter.stage("writing the pack")
    assert (
        stream.getvalue() == "vpack: 1/3 documents, 30 chunks, 30 embedded (1.0/s), ETA 1:00, elapsed 0:30\n"
    )
    clock.now += 5
    meter.update(3, 45, 45)
    meter.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1] == "vpack: 3/3 documents, 45 chunks, 45 embedded (0.8/s), elapsed 0:55, done"
    assert "\r" not in stream.getvalue()


def test_the_library_default_draws_on_a_terminal_only() -> None:
    quiet = io.StringIO()
    meter = Progress(total_documents=10, stream=quiet)
    meter.update(5, 20, 20, force=True)
    meter.finish()
    assert not meter.enabled and quiet.getvalue() == ""
    silenced = Tty()
    meter = Progress(stream=silenced, enabled=False)
    meter.update(1, 1, 1, force=True)
    meter.finish()
    assert silenced.getvalue() == ""


class StepEmbedder:
    """A model-like embedder that reports each text as it is embedded, one second
    apart on the test's clock, and records what the display showed meanwhile."""

    dimension = 8

    def __init__(self, clock: Clock, stream: io.StringIO) -> None:
        self.clock, self.stream = clock, stream
        self.calls = 0

    def describe(self) -> Mapping[str, Any]:
        return {"kind": "test-steps", "dimension": self.dimension}

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dimension, dtype=np.float32)
        v[len(text) % self.dimension] = 1.0
        return v

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return np.stack([self._vector(t) for t in texts])

    def embed_with_progress(self, texts: Sequence[str], done: Callable[[int], None]) -> np.ndarray:
        rows = []
        for text in texts:
            self.clock.now += 1.0
            rows.append(self._vector(text))
            done(1)
        return np.stack(rows)


class PlainEmbedder(StepEmbedder):
    embed_with_progress = None  # type: ignore[assignment]


@pytest.mark.parametrize("stepwise", [True, False])
def test_the_live_line_moves_within_an_embedding_batch(stepwise: bool) -> None:
    clock, stream = Clock(), Tty()
    meter = Progress(stream=stream, clock=clock)
    embedder = StepEmbedder(clock, stream) if stepwise else PlainEmbedder(clock, stream)
    texts = [f"document number {i} " + "word " * i for i in range(12)]
    with vpack.build(texts, embedder=embedder, batch_size=12, progress=meter) as result:
        assert result.report.chunks == 12
    counts = [line.split(", ")[2].split()[0] for line in redraws(stream.getvalue())]
    within = [n for n in counts if n not in ("0", "12")]
    assert counts[-1] == "12"
    if stepwise:  # one redraw per second of embedding, inside the single batch
        assert within == [str(n) for n in range(1, 12)]
        assert embedder.calls == 0
    else:  # the batch is one call: nothing between 0 and 12
        assert within == []
        assert embedder.calls == 1


def test_cached_embedder_reports_hits_then_misses(tmp_path: Path) -> None:
    done: List[int] = []
    with EmbeddingCache(tmp_path / "cache") as cache:
        cached = CachedEmbedder(HashEmbedder(16), cache)
        cached.embed(["a", "b"])
        vectors = cached.embed_with_progress(["a", "b", "c"], done.append)
    assert done == [2, 1]
    assert vectors.shape == (3, 16)


def _pty_stderr(args: Sequence[str]) -> str:
    """Runs vpack with stderr on a terminal (a pty) and returns what it wrote there."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the other end closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 0
    return b"".join(chunks).decode("utf-8", "replace")


def test_build_progress_on_a_terminal_and_off_it(docs: Path, tmp_path: Path) -> None:
    base = [str(VPACK), "build", str(docs), "--embedder", "hash"]
    drawn = _pty_stderr([*base, "-o", str(tmp_path / "a.vpack")])
    assert "\r" in drawn and "4/4 documents" in drawn and drawn.rstrip().endswith("done")
    proc = subprocess.run(
        [*base, "-o", str(tmp_path / "b.vpack")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0
    # A quick build off a terminal: no line until 30 s have passed, then the last one.
    assert proc.stderr.count("\n") == 1 and "\r" not in proc.stderr
    assert proc.stderr.startswith("vpack: 4/4 documents, 4 chunks, 4 embedded (")
    assert proc.stderr.endswith(", done\n")
    proc = subprocess.run(
        [*base, "-o", str(tmp_path / "c.vpack"), "--no-progress"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stderr == ""


def test_model_embeds_the_same_vectors_in_steps() -> None:
    from vpack import models
    from vpack.plugins import OnnxEmbedder

    if models.packaged_paths(models.DEFAULT_MODEL) is None or models.onnxruntime_library() is None:
        if os.environ.get("VPACK_REQUIRE_MODEL") == "1":
            pytest.fail("VPACK_REQUIRE_MODEL=1 but the default model or onnxruntime is not installed")
        pytest.skip("default model or onnxruntime not installed")
    # Lengths vary, so the model batches (sorted by length) mix texts from far apart.
    texts = [" ".join(["word"] * ((i * 7) % 23 + 1) + [f"topic {i}"]) for i in range(30)]
    done: List[int] = []
    emb = OnnxEmbedder.packaged()
    try:
        whole = emb.embed(texts)
        stepped = emb.embed_with_progress(texts, done.append)
    finally:
        emb.close()
    assert done == [16, 14]  # 16 texts (four model batches) a step
    assert whole.tobytes() == stepped.tobytes()


def test_model_steps_keep_the_model_batches_of_one_call() -> None:
    """The Rust model embedder sorts one call's texts by (token count up to max_tokens,
    position) and embeds them 4 at a time; the steps must give every text the same
    batchmates as one call would. Simulated here, without a model."""
    from vpack.plugins import OnnxEmbedder

    def model_batches(texts: Sequence[str], lengths: Callable[[str], int]) -> List[List[str]]:
        order = sorted(range(len(texts)), key=lambda i: (min(lengths(texts[i]), 16), i))
        return [[texts[i] for i in order[lo : lo + 4]] for lo in range(0, len(order), 4)]

    texts = [f"t{i} " + "w " * ((i * 5) % 21) for i in range(37)]
    count = len  # "tokens": characters
    calls: List[List[str]] = []

    class Simulated(OnnxEmbedder):
        @property
        def dimension(self) -> int:
            return 1

        def embed(self, batch: Sequence[str]) -> np.ndarray:
            calls.append(list(batch))
            return np.array([[float(texts.index(t))] for t in batch], dtype=np.float32)

        def token_counts(self, batch: Sequence[str]) -> List[int]:
            return [count(t) for t in batch]

    emb = Simulated("model.onnx", ".", max_tokens=16, prefer_native=False)
    emb.native = True  # the Rust path's batching, without loading anything
    done: List[int] = []
    out = emb.embed_with_progress(texts, done.append)
    assert out[:, 0].tolist() == [float(i) for i in range(37)]
    assert len(calls) == 3 and sum(done) == 37  # 16, 16 and 5 texts
    in_steps = [b for call in calls for b in model_batches(call, count)]
    assert sorted(map(tuple, in_steps)) == sorted(map(tuple, model_batches(texts, count)))
