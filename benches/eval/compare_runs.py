"""Two runs of run_eval.py on the same questions, compared question by question: what a
change of the pipeline (e.g. the chunker) did to dense, BM25 and the default query.

Reads each run's ``results.json`` (its ``first_hit_ranks``; rows are matched by name,
``ROWS`` maps a row renamed between versions of run_eval.py) and writes a Markdown table:
each row's recall@1/5/10 and MRR@10 before and after, the paired difference (after -
before, 95% percentile-bootstrap interval over questions), and questions better / worse
at 5; then, within the second run, the default query against dense on every metric.
``--ranks`` also writes the first-hit ranks of those rows in both runs (small, so the
comparison can be redone without the runs' 1.4 MB results.json files).

    python benches/eval/compare_runs.py BEFORE/results.json AFTER/results.json --out compare.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run_eval import bootstrap_halfwidth, metrics, paired_diff, per_query  # noqa: E402

#: (label, names the row may have in a results.json, newest first).
ROWS: List[Tuple[str, Tuple[str, ...]]] = [
    ("dense", ("dense",)),
    ("BM25 (Rust, default)", ("rust lexical (default: text only)", "rust lexical (text only)")),
    ("hybrid = the default query", ("default query (auto mode, no diversity)",)),
    ("hybrid + collapse section", ("hybrid + collapse section",)),
]
METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10")


def ranks(run: Mapping[str, Any], s: str, names: Sequence[str]) -> np.ndarray:
    table = run["first_hit_ranks"][s]
    for n in names:
        if n in table:
            return np.asarray(table[n])
    raise KeyError(f"{s}: none of {names} in the run")


def fmt(m: Mapping[str, float], hw: Mapping[str, float]) -> str:
    return " | ".join(f"{m[k]:.3f} ± {hw[k]:.3f}" for k in METRICS)


def delta(d: Tuple[float, float, float]) -> str:
    return f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]"


def better_worse(new: Mapping[str, np.ndarray], old: Mapping[str, np.ndarray]) -> str:
    a, b = new["recall@5"], old["recall@5"]
    return f"{int(np.sum(a > b))} / {int(np.sum(a < b))}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--ranks", type=Path, help="write both runs' first-hit ranks of the rows here")
    ap.add_argument("--bootstrap", type=int, default=2000)
    args = ap.parse_args()
    before, after = (json.loads(p.read_text()) for p in (args.before, args.after))
    sets = [s for s in after["first_hit_ranks"] if s in before["first_hit_ranks"]]
    reps = args.bootstrap
    lines = [
        "| config | set | before: recall@1 | recall@5 | recall@10 | MRR@10 | after: recall@1 | recall@5 "
        "| recall@10 | MRR@10 | Δ recall@5 [95% CI] | Δ MRR@10 [95% CI] | better / worse at 5 |",
        "|---" * 13 + "|",
    ]
    saved: Dict[str, Dict[str, Dict[str, List[int]]]] = {"before": {}, "after": {}}
    for label, names in ROWS:
        for s in sets:
            a, b = ranks(before, s, names), ranks(after, s, names)
            saved["before"].setdefault(s, {})[label] = a.tolist()
            saved["after"].setdefault(s, {})[label] = b.tolist()
            pa, pb = per_query(a), per_query(b)
            hwa = {k: bootstrap_halfwidth(v, reps) for k, v in pa.items()}
            hwb = {k: bootstrap_halfwidth(v, reps) for k, v in pb.items()}
            r5 = paired_diff(pb["recall@5"], pa["recall@5"], reps)
            mrr = paired_diff(pb["mrr@10"], pa["mrr@10"], reps)
            lines.append(
                f"| {label} | {s} | {fmt(metrics(a), hwa)} | {fmt(metrics(b), hwb)} "
                f"| {delta(r5)} | {delta(mrr)} | {better_worse(pb, pa)} |"
            )
    lines += [
        "",
        "Within the second run, the default query against dense (paired, 95% CI):",
        "",
        "| set | Δ recall@1 | Δ recall@5 | Δ recall@10 | Δ MRR@10 | better / worse at 5 |",
        "|---|---|---|---|---|---|",
    ]
    for s in sets:
        pd_, ph = per_query(ranks(after, s, ROWS[0][1])), per_query(ranks(after, s, ROWS[2][1]))
        cells = [delta(paired_diff(ph[k], pd_[k], reps)) for k in METRICS]
        lines.append(f"| {s} | {' | '.join(cells)} | {better_worse(ph, pd_)} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.ranks:
        args.ranks.write_text(json.dumps(saved) + "\n")


if __name__ == "__main__":
    main()
