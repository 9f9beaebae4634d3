"""Damaged packs never give a different answer: every damaged copy of a real pack either
answers exactly like the undamaged pack (the damage lies in bytes the queries did not
read) or raises CorruptPackError (UnsupportedVersionError when the version byte itself
changed), at open or at the query; never another exception, never a crash. And a full
verify (``vpack.open(path, verify=True)``) refuses every copy whose bytes differ.

The copies are made from the file layout (rust/src/format/mod.rs): the 64-byte header,
the section table (32 bytes per section) and every section, whatever kinds and how many
sections the pack has, plus the zero padding between them. Damage kinds: single-bit
flips, zeroed runs of 16 and 4096 bytes, truncations, appended garbage, two 4 KiB blocks
swapped, and other version bytes; all positions come from a seeded RNG."""

from __future__ import annotations

import random
import struct
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pytest

import vpack
from vpack.builder import PackBuilder

from .conftest import random_vectors

N, DIM = 1_500, 32
HEADER_LEN, ENTRY_LEN = 64, 32
WORDS = ["river", "Straße", "naïve", "café", "日本語", "данные", "λόγος", "🙂", "file", "line", "x"]


def make_pack(path: Path) -> np.ndarray:
    rng = random.Random(11)
    vectors = random_vectors(N, DIM, seed=31)
    texts: List[str] = []
    metas: List[Dict[str, Any]] = []
    for i in range(N):
        length = rng.choice([0, 1, 5, 40, 120, 400]) if i % 97 else 0
        texts.append(" ".join(rng.choice(WORDS) for _ in range(length)))
        if i % 13 == 0:
            metas.append({})
        else:
            metas.append(
                {
                    "path": f"{rng.choice(['docs', 'guide', 'api'])}/{i}-{rng.choice(WORDS)}.md",
                    "group": i % 9,
                    "n": i,
                    "tags": [rng.choice(WORDS) for _ in range(rng.randint(0, 3))],
                    "rare": i % 250 == 7,
                    "nested": {"level": i % 4, "title": rng.choice(WORDS) * rng.randint(1, 5)},
                }
            )
    b = PackBuilder(DIM)
    b.add(texts, vectors, metas)
    b.finish({"title": "corruption ✓", "notes": ["ü" * 50]}, output=path).close()
    return vectors


def queries(vectors: np.ndarray) -> List[Tuple[np.ndarray, Optional[Dict[str, Any]]]]:
    rng = np.random.default_rng(32)
    near = [vectors[i] + 0.1 * rng.standard_normal(DIM).astype(np.float32) for i in (3, 97, 777, 1499)]
    far = [rng.standard_normal(DIM).astype(np.float32) for _ in range(2)]
    return [
        (near[0], None),
        (near[1], None),
        (far[0], None),
        (near[2], {"group": 4}),
        (near[3], {"path": "guide/*"}),
        (far[1], {"rare": True}),  # a few matches: the filter reads many metadata records
        (far[0], {"n": {"$gte": 1400}, "nested.level": {"$in": [1, 2]}}),
        (near[0], {"$or": [{"tags": "🙂"}, {"path": {"$exists": False}}]}),
    ]


Answers = Dict[str, Any]


def answers(path: Path, qs: List[Tuple[np.ndarray, Optional[Dict[str, Any]]]]) -> Answers:
    """Everything the queries give: every hit's id, score, text and metadata, also read
    again by id."""
    with vpack.open(path) as pack:
        result: Answers = {"len": len(pack), "dimension": pack.dimension, "manifest": pack.manifest}
        for qi, (q, flt) in enumerate(qs):
            hits = pack.search(q, k=10, filter=flt)
            result[f"q{qi}"] = [(h.id, h.score, h.text, h.metadata) for h in hits]
            result[f"c{qi}"] = [(c.text, c.metadata) for c in (pack.chunk(h.id) for h in hits)]
        return result


@dataclass
class Layout:
    regions: List[Tuple[str, int, int]]  # name, start, end: header, table, sections, padding
    sections: List[Tuple[int, int, int]]  # kind, offset, length


def parse(data: bytes) -> Layout:
    assert data[:8] == b"\x89VPACK\r\n"
    (count,) = struct.unpack_from("<I", data, 12)
    (file_len,) = struct.unpack_from("<Q", data, 16)
    assert file_len == len(data) and 4 <= count <= 64
    table_end = HEADER_LEN + ENTRY_LEN * count
    sections = []
    for i in range(count):
        kind, _flags, offset, length, _crc, _zero = struct.unpack_from(
            "<IIQQII", data, HEADER_LEN + ENTRY_LEN * i
        )
        sections.append((kind, offset, length))
    regions = [("header", 0, HEADER_LEN), ("table", HEADER_LEN, table_end)]
    cursor = table_end
    for kind, offset, length in sorted(sections, key=lambda s: s[1]):
        assert offset >= cursor and offset % 64 == 0
        if offset > cursor:
            regions.append((f"padding@{cursor}", cursor, offset))
        if length:
            regions.append((f"section{kind}", offset, offset + length))
        cursor = offset + length
    if cursor < len(data):
        regions.append((f"padding@{cursor}", cursor, len(data)))
    return Layout(regions, sections)


def legacy_layout(data: bytes) -> bytes:
    """The same pack as a writer without block checksums lays it out: only the sections
    of kinds 1-4 (manifest, chunk table, chunk data, vectors), each 64-byte aligned after
    the table, header and table CRCs recomputed. Readers must check such packs too
    (each section as one block against its table CRC)."""
    entries = [
        struct.unpack_from("<IIQQII", data, HEADER_LEN + ENTRY_LEN * i)
        for i in range(struct.unpack_from("<I", data, 12)[0])
    ]
    kept = [e for e in entries if e[0] in (1, 2, 3, 4)]
    offset = HEADER_LEN + ENTRY_LEN * len(kept)
    table = b""
    body = b""
    for kind, flags, old_offset, length, crc, zero in kept:
        offset += -offset % 64
        body += bytes(offset - HEADER_LEN - ENTRY_LEN * len(kept) - len(body))
        table += struct.pack("<IIQQII", kind, flags, offset, length, crc, zero)
        body += data[old_offset : old_offset + length]
        offset += length
    size = HEADER_LEN + len(table) + len(body)
    head = data[:12] + struct.pack("<IQI", len(kept), size, zlib.crc32(table)) + bytes(32)
    return head + struct.pack("<I", zlib.crc32(head)) + table + body


@dataclass
class Damage:
    kind: str
    region: str
    where: int
    data: bytes


def damaged_copies(data: bytes, layout: Layout) -> Iterator[Damage]:
    rng = random.Random(2026)
    size = len(data)

    def region_of(pos: int) -> str:
        for name, start, end in layout.regions:
            if start <= pos < end:
                return name
        return "end"

    def spots(start: int, end: int, count: int) -> List[int]:
        inner = [rng.randrange(start, end) for _ in range(count)]
        return sorted({start, end - 1, *inner})

    def flip(pos: int) -> bytes:
        out = bytearray(data)
        out[pos] ^= 1 << rng.randrange(8)
        return bytes(out)

    def zero(pos: int, n: int) -> bytes:
        out = bytearray(data)
        out[pos : pos + n] = bytes(len(out[pos : pos + n]))
        return bytes(out)

    for name, start, end in layout.regions:
        big = end - start > 4096
        for pos in spots(start, end, 10 if big else 4):
            yield Damage("flip", name, pos, flip(pos))
        for pos in spots(start, end, 3 if big else 1):
            yield Damage("zero16", name, pos, zero(pos, 16))
        if end - start >= 64:
            yield Damage("zero4096", name, start, zero(start, 4096))
            pos = rng.randrange(start, end)
            yield Damage("zero4096", name, pos, zero(pos, 4096))
        for cut in sorted({start, start + 1, (start + end) // 2, end - 1}):
            if 0 <= cut < size:
                yield Damage("truncate", name, cut, data[:cut])
    for version in (0x00, 0x01, 0x03, 0xFF):
        yield Damage("version", "header", 8, data[:8] + bytes([version]) + data[9:])
    for n in (1, 7, 64, 4096):
        yield Damage("append", "end", size, data + bytes(rng.randrange(256) for _ in range(n)))
    yield Damage("append", "end", size, data + bytes(64))
    blocks = size // 4096
    pairs = {(0, 1), (0, blocks - 1), (blocks - 2, blocks - 1)}
    while len(pairs) < 18:
        a, b = sorted(rng.sample(range(blocks), 2))
        pairs.add((a, b))
    for a, b in sorted(pairs):
        out = bytearray(data)
        first, second = data[a * 4096 : (a + 1) * 4096], data[b * 4096 : (b + 1) * 4096]
        out[a * 4096 : (a + 1) * 4096], out[b * 4096 : (b + 1) * 4096] = second, first
        yield Damage("swap4k", f"{region_of(a * 4096)}+{region_of(b * 4096)}", a * 4096, bytes(out))


def outcome(path: Path, expected: Answers, qs: List[Tuple[np.ndarray, Optional[Dict[str, Any]]]]) -> str:
    try:
        got = answers(path, qs)
    except vpack.CorruptPackError:
        return "corrupt"
    except vpack.UnsupportedVersionError:
        return "unsupported"
    except Exception as exc:
        return f"raised {type(exc).__name__}: {exc}"[:300]
    if got == expected:
        return "same"
    differ = [key for key in expected if got.get(key) != expected[key]]
    return f"different answers ({', '.join(differ)})"


def verify_outcome(path: Path) -> str:
    try:
        vpack.open(path, verify=True).close()
    except vpack.CorruptPackError:
        return "corrupt"
    except vpack.UnsupportedVersionError:
        return "unsupported"
    except Exception as exc:
        return f"raised {type(exc).__name__}: {exc}"[:300]
    return "accepted"


@pytest.fixture(scope="module", params=["as-written", "legacy-layout"])
def original(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Tuple[Path, bytes, np.ndarray]:
    """The pack as this library writes it, and the same pack laid out without the
    optional block-checksum section (as older writers did)."""
    path = tmp_path_factory.mktemp("corruption") / "original.vpack"
    vectors = make_pack(path)
    if request.param == "legacy-layout":
        legacy = path.with_name("legacy.vpack")
        legacy.write_bytes(legacy_layout(path.read_bytes()))
        vpack.open(legacy, verify=True).close()
        assert answers(legacy, queries(vectors)) == answers(path, queries(vectors))
        path = legacy
    return path, path.read_bytes(), vectors


def test_the_pack_covers_every_region(original: Tuple[Path, bytes, np.ndarray]) -> None:
    _path, data, _vectors = original
    layout = parse(data)
    kinds = {kind for kind, _offset, _length in layout.sections}
    assert {1, 2, 3, 4} <= kinds  # manifest, chunk table, chunk data, vectors
    lengths = {kind: length for kind, _offset, length in layout.sections}
    assert lengths[3] > 4 * 65536 and lengths[4] > 2 * 65536  # several 64 KiB blocks each


def test_damage_never_changes_an_answer(original: Tuple[Path, bytes, np.ndarray], tmp_path: Path) -> None:
    path, data, vectors = original
    layout = parse(data)
    qs = queries(vectors)
    expected = answers(path, qs)
    assert all(expected[f"q{i}"] for i in range(len(qs))), "every query has hits"
    failures: List[str] = []
    tally: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    target = tmp_path / "damaged.vpack"
    copies = list(damaged_copies(data, layout))
    assert 150 <= len(copies) <= 600
    for damage in copies:
        seen[damage.kind] += 1
        target.write_bytes(damage.data)
        changed = damage.data != data
        version_changed = len(damage.data) > 8 and damage.data[8] != data[8]
        allowed = {"same", "corrupt"} | ({"unsupported"} if version_changed else set())
        if not changed:
            allowed = {"same"}
        result = outcome(target, expected, qs)
        tally[f"{damage.kind}:{result.split(' ')[0]}"] += 1
        label = f"{damage.kind} in {damage.region} at {damage.where} (file {len(damage.data)} bytes)"
        if result not in allowed:
            failures.append(f"{label}: {result}")
        if changed:
            full = verify_outcome(target)
            if full not in ({"corrupt", "unsupported"} if version_changed else {"corrupt"}):
                failures.append(f"{label}: verify=True {full}")
    assert seen["flip"] and seen["zero16"] and seen["zero4096"] and seen["truncate"]
    assert seen["append"] and seen["swap4k"] and seen["version"]
    regions_hit = {name for name, _start, _end in layout.regions}
    assert regions_hit <= {d.region for d in copies}
    summary = ", ".join(f"{key}={n}" for key, n in sorted(tally.items()))
    by_kind = Counter(f.split(" ")[0] for f in failures)
    assert not failures, (
        f"{len(failures)} of {len(copies)} damaged copies misbehaved (by kind: {dict(by_kind)}); "
        f"outcomes: {summary}; first ones:\n" + "\n".join(failures[:40])
    )


def test_damaged_bytes_are_never_read_unverified(
    original: Tuple[Path, bytes, np.ndarray], tmp_path: Path
) -> None:
    """One bit flipped in each 16 KiB of the chunk table, chunk data and vectors; then
    chunks are read by id and every vector is scored: each read gives the original
    answer or CorruptPackError."""
    path, data, vectors = original
    layout = parse(data)
    with vpack.open(path) as pack:
        chunks = [(c.text, c.metadata) for c in (pack.chunk(i) for i in range(N))]
        everything = [(h.id, h.score) for h in pack.search(vectors[5], k=N)]
    target = tmp_path / "flipped.vpack"
    rng = random.Random(7)
    tried = 0
    for kind, offset, length in layout.sections:
        if kind not in (2, 3, 4):
            continue
        for block in range(offset, offset + length, 16384):
            out = bytearray(data)
            out[rng.randrange(block, min(block + 16384, offset + length))] ^= 1 << rng.randrange(8)
            target.write_bytes(bytes(out))
            tried += 1
            try:
                with vpack.open(target) as pack:
                    for i in range(rng.randrange(5), N, 5):
                        try:
                            hit = pack.chunk(i)
                        except vpack.CorruptPackError:
                            continue
                        assert (hit.text, hit.metadata) == chunks[i], f"chunk {i}, flip in section {kind}"
                    try:
                        got = [(h.id, h.score) for h in pack.search(vectors[5], k=N)]
                    except vpack.CorruptPackError:
                        continue
                    assert got == everything, f"flip in section {kind} at block {block}"
            except vpack.CorruptPackError:
                continue
    assert tried > 20
