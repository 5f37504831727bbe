"""The field's headline data-efficiency results beside a squeeze study's figures in the same terms (issue 31).

    python benchmarks/published_claims.py squeeze-out/summary.json [FLAGSHIP_OUT/summary.json]

Prints one markdown table: each published claim, its scale, and the study's figure for the same quantity (a limit,
a retention, a pair of ensembles, a learned snapshot mixture) with its 90% interval or the reason it is not
resolved. A second summary adds a column (the flagship beside the default study). Reads summary.json files only.
"""
import json
import sys
from pathlib import Path

# (what, published figure, its scale and source, how to read it from a summary)
CLAIMS = (
    ("regularized recipe, parameters -> infinity", "2.29x",
     "Kim et al. 2025: 150M-1.4B params, 200M tokens", "limit:regularized recipe, parameters -> infinity"),
    ("ensembles, members -> infinity, then parameters -> infinity", "5.17x",
     "Kim et al. 2025: the same sizes, 200M tokens",
     "limit:ensembles, members -> infinity, then parameters -> infinity"),
    ("a student at 1/8 of the ensemble keeps of its gain", "83%",
     "Kim et al. 2025: 8-member ensembles of 300M-1.4B", "student"),
    ("ensemble members past their own optimum (members tuned for the ensemble vs at the single-model optimum)",
     "2x epochs, 1/2 wd", "Kim et al. 2025; the NanoGPT Slowrun record's members each overfit alone", "tuned"),
    ("snapshot ensemble with learned weights and a top-k (one run)", "~13.8x",
     "NanoGPT Slowrun record: ~100M tokens, weights on a ~132k-token fitness slice", "snapshot"),
    ("the best single model, read by interpolation", "10x",
     "NanoGPT Slowrun '10x' record: interpolation on its own baseline curve", "best"),
)


def _limit(summary: dict, what: str) -> str:
    lim = next((x for x in summary.get("limits", []) if x["what"] == what), None)
    if lim is None:
        return "not in this study"
    if lim["loss"] is None:
        return lim["reason"]
    law = "beyond the standard law's asymptote" if lim["law_multiplier"] is None else (
        f"{lim['law_multiplier']:.2f}x" + (" [{:.2f}, {:.2f}]".format(*lim["law_interval"])
                                          if lim.get("law_interval") else ""))
    return f"loss {lim['text']}; {law} (extrapolated on the standard law)"


def _methods(summary: dict) -> dict:
    return {m["method"]: m for m in summary["methods"]}


def _student(summary: dict) -> str:
    m = _methods(summary).get("distilled student at 1/8 of the largest ensemble")
    if m is None or m.get("retention") is None:
        return "not in this study" if m is None else "n/a: the ensemble did not beat its members"
    lo, hi = m["retention_interval"]
    return f"{m['retention']:.0%} [{lo:.0%}, {hi:.0%}] at 1/{1 / m['param_fraction']:.3g} of the parameters"


def _tuned(summary: dict) -> str:
    methods = _methods(summary)
    tuned = next((m for name, m in methods.items() if name.endswith(" tuned for the ensemble")), None)
    if tuned is None:
        return "not in this study"
    size = tuned["method"].removesuffix(" tuned for the ensemble")
    single = methods.get(f"{size} at the single-model optimum")
    at = f" vs {single['multiplier_text']} at the single-model optimum" if single else ""
    return f"{tuned['multiplier_text']} tuned ({tuned['note'].split(' (')[0]}){at}"


def _snapshot(summary: dict) -> str:
    m = next((m for name, m in _methods(summary).items() if name.endswith("cycles, learned top-k")), None)
    uniform = next((m for name, m in _methods(summary).items() if name.endswith("cycles, uniform")), None)
    if m is None:
        return "not in this study"
    return f"{m['multiplier_text']} learned, {uniform['multiplier_text']} uniform" if uniform else m["multiplier_text"]


def _best(summary: dict) -> str:
    best = _methods(summary)[summary["best_model"]["method"]]
    return f"{best['multiplier_text']} ({best['method']})"


READERS = {"student": _student, "tuned": _tuned, "snapshot": _snapshot, "best": _best}


def figure(summary: dict, how: str) -> str:
    return _limit(summary, how[6:]) if how.startswith("limit:") else READERS[how](summary)


def table(summaries: list[tuple[str, dict]]) -> list[str]:
    head = ["claim", "published", "its scale"] + [f"squeeze, {name} (D0 = {s['d0']:,.0f} tokens)"
                                                   for name, s in summaries]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for what, published, scale, how in CLAIMS:
        lines.append("| " + " | ".join([what, published, scale] + [figure(s, how) for _, s in summaries]) + " |")
    return lines


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    names = ["default study", "flagship"]
    summaries = [(names[i] if i < 2 else p, json.loads(Path(p).read_text())) for i, p in enumerate(argv)]
    print("\n".join(table(summaries)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
