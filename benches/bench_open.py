"""What the verification policy costs: open time, RSS after open, first query (which
checks every vector block it reads) and later queries, against a full verify, on a large
pack (default about 1 GB: 650,000 x 384 f32 plus short texts).

    python benches/bench_open.py --n 650000 --dim 384 --repeat 5

The pack is built once into --dir (default /tmp/vpack-bench-open) and reused. Each
measurement runs in a fresh Python process so the handle's checked-block bits start
empty; the file stays in the page cache between runs (warm cache), as it does for a
server that reopens a pack. Prints medians of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import vpack

PROBE = r"""
import json, resource, sys, time
import numpy as np
import vpack

def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

path, dim, verify = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
q = np.random.default_rng(1).standard_normal(dim).astype(np.float32)
before = rss_kb()
t0 = time.perf_counter()
pack = vpack.open(path, verify=verify)
t_open = time.perf_counter() - t0
after_open = rss_kb()
t0 = time.perf_counter()
pack.search(q, k=10)
t_first = time.perf_counter() - t0
later = []
for _ in range(5):
    t0 = time.perf_counter()
    pack.search(q, k=10)
    later.append(time.perf_counter() - t0)
later.sort()
print(json.dumps({"open": t_open, "rss_open_kb": after_open - before, "first": t_first,
                  "later": later[2]}))
"""


def build(path: Path, n: int, dim: int) -> None:
    rng = np.random.default_rng(0)
    builder = vpack.PackBuilder(dim, metric="cosine")
    batch = 20_000
    for start in range(0, n, batch):
        m = min(batch, n - start)
        vectors = rng.standard_normal((m, dim)).astype(np.float32)
        texts = [f"chunk {start + i}" for i in range(m)]
        builder.add(texts, vectors, [{"i": start + i} for i in range(m)])
    builder.finish({"title": "bench_open"}, output=path).close()


def probe(path: Path, dim: int, verify: bool) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), str(dim), "1" if verify else "0"],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict = json.loads(out.stdout)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=650_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", default="/tmp/vpack-bench-open")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    path = Path(args.dir) / f"open-{args.n}x{args.dim}.vpack"
    if not path.exists():
        t0 = time.perf_counter()
        build(path, args.n, args.dim)
        print(f"built {path} in {time.perf_counter() - t0:.1f} s")
    size = path.stat().st_size
    print(f"pack: {args.n} x {args.dim}, {size / 1e9:.3f} GB (warm page cache)")
    rows = []
    for verify in (False, True):
        runs = [probe(path, args.dim, verify) for _ in range(args.repeat)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        rows.append((verify, med))
    print("| open | open | RSS after open | first query | later queries |")
    print("|---|---|---|---|---|")
    for verify, m in rows:
        name = "verify=True" if verify else "default (lazy)"
        print(
            f"| {name} | {m['open'] * 1e3:.2f} ms | {m['rss_open_kb'] / 1024:.1f} MB "
            f"({m['rss_open_kb'] * 1024 / size * 100:.2f}% of file) | {m['first'] * 1e3:.1f} ms "
            f"| {m['later'] * 1e3:.1f} ms |"
        )


if __name__ == "__main__":
    main()
