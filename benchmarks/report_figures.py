"""The report's two headline figures drawn again from a study's summary.json alone, without its run directories:
the forest plot of every multiplier and the data-scaling plot, as PNGs. The README shows the default study's,
drawn from its committed summary:

    python benchmarks/report_figures.py benchmarks/study_default_summary.json --prefix benchmarks/study_default_

writes benchmarks/study_default_multipliers.png and benchmarks/study_default_data_scaling.png
(squeeze/study/forest.py and squeeze/study/report_output.py draw them, the same functions `squeeze report` uses).
"""
import argparse
import json
import sys
from pathlib import Path

from squeeze.study.forest import plot_forest
from squeeze.study.report_output import plot_summary_scaling


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("summary", type=Path, help="a study's summary.json (written by `squeeze run` / `squeeze report`)")
    p.add_argument("--prefix", default="", help="path prefix of the files written (default: the current folder)")
    a = p.parse_args()
    try:
        summary = json.loads(a.summary.read_text(encoding="utf-8"))
        written = [*plot_forest(summary, Path(f"{a.prefix}multipliers.png")),
                   plot_summary_scaling(summary, Path(f"{a.prefix}data_scaling.png"))]
    except (OSError, ValueError, KeyError) as err:
        print(f"report_figures: error: {a.summary}: {err!r}", file=sys.stderr)
        return 2
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
