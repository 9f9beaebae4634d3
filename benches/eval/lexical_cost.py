"""Cost of the default lexical index with the default model (issue 9: at most +10% build
time and +25% pack size): builds one folder with ``vpack.build(..., lexical=True)`` and
``lexical=False``, alternately, each build in a fresh Python process, and reports each
build's seconds (the report's total, the wall time of the call including the model
load, and the process's CPU time, which a busy machine disturbs less), the time of the
"index" stage (where the lexical index is built), the pack's size and the process's
peak RSS.

Warm cache (default): both variants read one embedding cache folder, filled by a first
untimed build, so the builds measure everything except the model's embedding (which the
lexical index does not change). ``--cold``: every build gets a fresh, empty cache folder,
so it embeds every chunk (the whole cost a first build pays).

    VPACK_LIBRARY=... PYTHONPATH=. python benches/eval/lexical_cost.py /tmp/vpack-eval/django/corpus
    #   --rounds 3 --cold --workdir /tmp/lexical-cost --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List


def one_build(folder: str, output: str, cache: str, lexical: bool) -> Dict[str, Any]:
    import vpack

    t = time.perf_counter()
    with vpack.build(folder, output, cache=cache, lexical=lexical, progress=False) as result:
        rep = result.report
    wall = time.perf_counter() - t
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "lexical": lexical,
        "wall_seconds": wall,
        "total_seconds": rep.seconds.get("total"),
        "cpu_seconds": usage.ru_utime + usage.ru_stime,  # the whole process, every thread
        "stage_seconds": rep.seconds,
        "chunks": rep.chunks,
        "cache_hits": rep.cache_hits,
        "cache_misses": rep.cache_misses,
        "size_bytes": os.path.getsize(output),
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def run_child(folder: Path, output: Path, cache: Path, lexical: bool) -> Dict[str, Any]:
    args = [sys.executable, __file__, "--child", str(folder), str(output), str(cache), str(int(lexical))]
    done = subprocess.run(args, check=True, capture_output=True, text=True)
    record: Dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return record


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        folder, output, cache_dir, flag = sys.argv[2:6]
        print(json.dumps(one_build(folder, output, cache_dir, flag == "1")))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--rounds", type=int, default=3, help="builds of each variant")
    ap.add_argument("--cold", action="store_true", help="a fresh, empty embedding cache per build")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/lexical-cost"))
    ap.add_argument("--json", type=Path, help="write every build's figures here")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    warm = args.workdir / "cache-warm"
    if not args.cold:
        first = run_child(args.folder, args.workdir / "fill.vpack", warm, True)
        print(
            f"cache filled: {first['chunks']} chunks, {first['cache_misses']} embedded, "
            f"{first['wall_seconds']:.1f} s"
        )
    runs: List[Dict[str, Any]] = []
    for r in range(args.rounds):
        for lexical in (True, False) if r % 2 == 0 else (False, True):
            cache = warm
            if args.cold:
                cache = args.workdir / f"cache-cold-{r}-{int(lexical)}"
                shutil.rmtree(cache, ignore_errors=True)
            out = args.workdir / f"{'lexical' if lexical else 'dense'}.vpack"
            rec = run_child(args.folder, out, cache, lexical)
            rec["load_1min"] = os.getloadavg()[0]
            runs.append(rec)
            print(
                f"lexical={lexical!s:5} total {rec['total_seconds']:.1f} s, "
                f"wall {rec['wall_seconds']:.1f} s, cpu {rec['cpu_seconds']:.1f} s, "
                f"{rec['size_bytes'] / 1e6:.2f} MB, peak RSS {rec['peak_rss_mb']:.0f} MB, "
                f"embedded {rec['cache_misses']}, load {rec['load_1min']:.1f}",
                flush=True,
            )
            if args.cold:
                shutil.rmtree(cache, ignore_errors=True)
    summary: Dict[str, Any] = {}
    for lexical in (True, False):
        mine = [r for r in runs if r["lexical"] == lexical]
        summary["lexical" if lexical else "dense"] = {
            "total_seconds_median": statistics.median(r["total_seconds"] for r in mine),
            "wall_seconds_median": statistics.median(r["wall_seconds"] for r in mine),
            "cpu_seconds_median": statistics.median(r["cpu_seconds"] for r in mine),
            "index_stage_seconds_median": statistics.median(
                r["stage_seconds"].get("index", 0.0) for r in mine
            ),
            "size_bytes": mine[0]["size_bytes"],
            "peak_rss_mb_median": statistics.median(r["peak_rss_mb"] for r in mine),
        }
    lex, dense = summary["lexical"], summary["dense"]
    summary["ratios"] = {
        "total_seconds": lex["total_seconds_median"] / dense["total_seconds_median"],
        "wall_seconds": lex["wall_seconds_median"] / dense["wall_seconds_median"],
        "cpu_seconds": lex["cpu_seconds_median"] / dense["cpu_seconds_median"],
        "size": lex["size_bytes"] / dense["size_bytes"],
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        record = {"folder": str(args.folder), "cold": args.cold, "runs": runs, "summary": summary}
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
