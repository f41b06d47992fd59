"""Measure the combination matrix's render pass: in-process renders (msmvp.api.plan) per second
over a selection, the first pass discarded (it loads the checklist and compiles the templates).

    python bench/bench_matrix.py [--runs 7] [--select full]

The static and end-to-end passes are timed by `make matrix` itself (matrix-results/matrix.md).
"""

from __future__ import annotations

import argparse
import statistics

from msmvp import matrix
from msmvp.matrix import combos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--select", default="full", choices=combos.SELECTIONS)
    args = parser.parse_args()
    count = len(combos.select(args.select))
    matrix.run(args.select, None, check=False)  # warm-up: checklist, templates, bytecode cache
    rates, seconds = [], []
    for _ in range(args.runs):
        result = matrix.run(args.select, None, check=False)
        assert result.failures() == [], result.failures()
        rates.append(result.rendered / result.render_seconds)
        seconds.append(result.render_seconds)
    print(
        f"{args.select}: {count} combinations, median {statistics.median(seconds):.3f} s per pass, "
        f"{statistics.median(rates):.1f} combinations/s (min {min(rates):.1f}, max {max(rates):.1f}; {args.runs} runs)"
    )


if __name__ == "__main__":
    main()
