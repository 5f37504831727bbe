"""What report.md and report.html say, in the order a reader wants it: one headline sentence (the largest gain and
its interval in plain words), the forest plot of every multiplier, the table (significance by colour and by word;
the law column collapsed into one note when the law is degenerate), short bullets (what helped, what did not, what
is not certified, what to run next), then the details. One list of blocks, two renderers; every path relative to
the study's --out; report.html is self-contained (its images lie beside it, nothing is fetched).

All of it is a function of the summary (squeeze/study/report.py `summarize`) and the corpus's meta.json;
squeeze/study/report_output.py writes the files. Exercised by tests/test_report_page.py, and in a real browser by
tests/test_run.py (`squeeze run --preset smoke`).
"""
from __future__ import annotations

import html
import math
import os
from pathlib import Path

# the significance words and their CSS class: colour and word together, so the table survives grey printing
SIG_CLASS = {"significant gain": "sig-gain", "significant loss": "sig-loss", "no measurable gain": "sig-none"}
CONTROL = "data selection: random"
BASE_SIGNIFICANCE = "base: no domain tokens"  # the base row of a study from a base (squeeze run --init)


def compared(summary: dict) -> list[dict]:
    """The rows read against the standard recipe: every row but the reference and a base's own row."""
    return [m for m in summary["methods"] if m["significance"] not in ("reference", BASE_SIGNIFICANCE)]


def rel(path: str, out: Path) -> str:
    """`path` relative to the study's --out when it lies under it (the report travels with its directory)."""
    p, o = Path(path).resolve(), Path(out).resolve()
    return os.path.relpath(p, o) if p.is_relative_to(o) else str(path)


def law_collapsed(summary: dict) -> bool:
    """Whether the law column is one note: the standard law is degenerate, flagged on every row."""
    return bool(summary["methods"]) and all(m.get("law_note") for m in summary["methods"])


def law_note(summary: dict) -> str:
    """The one line that replaces the law column when the law is degenerate; "" otherwise."""
    if not law_collapsed(summary):
        return ""
    fit = (summary.get("fits", {}).get("data_scaling") or {}).get("fit") or {}
    reason = f" ({fit['reason']})" if fit.get("reason") else ""
    return (f"No law column: the standard recipe's fitted law is degenerate{reason}, so every multiplier is read "
            "by interpolation between the measured standard points (summary.json keeps the law's figures).")


def _law_text(m: dict) -> str:
    if m.get("law_note"):
        return "- (degenerate law)"
    if m.get("law_multiplier") is None:
        return "beyond asymptote"
    iv = m.get("law_interval")
    return f"{m['law_multiplier']:.2f}x" + (f" [{iv[0]:.2f}, {iv[1]:.2f}]" if iv else "")


def _loss_text(m: dict) -> str:
    sd = f" ± {m['seed_sd']:.3f}" if m.get("seed_sd") is not None else ""
    return f"{m['val_loss']:.4f}{sd} ({m['seeds']})"


def table(summary: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the headline table: the multiplier beside the method; no law column when collapsed."""
    law = not law_collapsed(summary)
    head = ["method", "multiplier [90%]", "beyond noise?", "val loss ± seed SD (seeds)", "bits/byte",
            *(["law [90%]"] if law else []), "params", "FLOPs own / total", "certificate"]
    rows = []
    for m in summary["methods"]:
        ref = m["significance"] == "reference"
        rows.append([m["method"], "1.00x (reference)" if ref else m["multiplier_text"],
                     "-" if ref else m["significance"], _loss_text(m),
                     f"{m['val_bpb']:.4f}" if m.get("val_bpb") is not None else "-", *([_law_text(m)] if law else []),
                     f"{m['params']:,}", f"{m['flops_own']:.3g} / {m['flops_total']:.3g}",
                     m["certificate"].split(" (")[0]])
    return head, rows


def table_lines(summary: dict, markdown: bool = False) -> list[str]:
    """The headline table as aligned text (`squeeze run` prints it) or as a markdown table."""
    head, rows = table(summary)
    if markdown:
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = lambda r: "  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w)  # noqa: E731
                              for i, (x, w) in enumerate(zip(r, widths)))
    return [fmt(head), *map(fmt, rows)]


def _times(token: str) -> str:
    """"1.69x" -> "1.69 times", "> 4x" -> "more than 4 times", "< 0.5" -> "less than 0.5"."""
    t = token.strip().removesuffix("x")
    t = t.replace("> ", "more than ").replace("< ", "less than ")
    return t


def _spoken(text: str) -> tuple[str, str]:
    """A multiplier text "1.69x [1.56, 1.85]" as ("1.69 times", "1.56 to 1.85 times")."""
    head, _, rest = text.partition(" [")
    ends = [_times(e) for e in rest.rstrip("]").split(", ")] if rest else []
    return f"{_times(head)} times", (f"{ends[0]} to {ends[1]} times" if len(ends) == 2 else "")


def _rank(m: dict) -> float:
    """Sort key of a gain: its multiplier; a bound above the measured range first."""
    return m["multiplier"] if m.get("multiplier") is not None else \
        math.inf if m.get("multiplier_text", "").startswith(">") else 0.0


def headline(summary: dict) -> str:
    """The report's first sentence: the largest gain beyond seed noise, its interval, in plain words."""
    rows = compared(summary)
    gains = [m for m in rows if m["significance"] == "significant gain"]
    if not rows:
        return "Only the standard recipe was measured: there is no method to compare yet."
    if not gains:
        top = max(rows, key=_rank)
        value, span = _spoken(top["multiplier_text"])
        return (f"No method gained beyond seed noise: the largest multiplier, {value} the data for {top['method']}, "
                f"has a 90% interval ({span}) that does not lie above 1.0x.")
    top = max(gains, key=_rank)
    value, span = _spoken(top["multiplier_text"])
    return (f"{top['method'][:1].upper()}{top['method'][1:]} gained the most: the standard recipe, tuned the same way, "
            f"would need {value} the data to reach its loss (90% interval over seed noise: {span}), the largest of "
            f"{len(gains)} gains beyond noise among {len(rows)} methods at D0 = {summary['d0']:,.0f} tokens.")


def _short(m: dict) -> str:
    return f"{m['method']} {m['multiplier_text'].split(' [')[0]}"


def _listing(rows: list[dict], n: int, listed: int = 4) -> str:
    """Rows in the order given (largest multiplier first): all of them when few, else the first three and the
    last."""
    if len(rows) <= listed:
        return f"{len(rows)} of {n} methods: " + "; ".join(map(_short, rows))
    return f"{len(rows)} of {n} methods, from {'; '.join(map(_short, rows[:listed - 1]))} down to {_short(rows[-1])}"


def _selection_words(rows: list[dict]) -> str | None:
    """Each selection method against the random-subset control: its interval above, below, or overlapping."""
    control = next((m for m in rows if m["method"] == CONTROL), None)
    others = [m for m in rows if m["method"].startswith("data selection") and m is not control]
    if control is None or not others or not control.get("interval"):
        return None
    c_lo, c_hi = (float(x) for x in control["interval"])
    words = []
    for m in others:
        lo, hi = (float(x) for x in m["interval"]) if m.get("interval") else (math.nan, math.nan)
        side = "above" if lo > c_hi else "below" if hi < c_lo else "overlaps"
        words.append(f"{m['method'].removeprefix('data selection: ')} {side}")
    return (f"Data selection against its control, a random subset of the same tokens "
            f"({control['multiplier_text']}): {'; '.join(words)} (the control's interval; a selection method's own "
            "effect is its distance from the control, not from 1.0x).")


def bullets(summary: dict, left_out: list[str] = ()) -> list[str]:
    """Short bullets under the table: what helped, what did not, what is not certified, what to run next; each
    list largest multiplier first."""
    rows = compared(summary)
    by = lambda sig: sorted((m for m in rows if m["significance"] == sig), key=_rank, reverse=True)  # noqa: E731
    gains, flat, losses = by("significant gain"), by("no measurable gain"), by("significant loss")
    out = [f"Helped beyond noise: {_listing(gains, len(rows)) if gains else 'none'}."]
    if flat:
        out.append(f"No measurable gain (the interval includes 1.0x): {_listing(flat, len(rows))}.")
    if losses:
        out.append(f"Worse than the standard recipe beyond noise: {_listing(losses, len(rows))}.")
    if not flat and not losses:
        out.append("Did not help: none; every method's interval lies above 1.0x.")
    if (sel := _selection_words(rows)) is not None:
        out.append(sel)
    open_ = [f"{m['method']} ({m['certificate']})" for m in summary["methods"]
             if m["certificate"].startswith(("edge", "not certified"))]
    out.append("Not certified as locally optimal: " + "; ".join(open_) + "." if open_ else
               "Every tuned row is certified locally optimal on its grid (rows marked n/a reuse a certified point).")
    if left_out:
        out.append("Not in the picture (no interval to draw): " + "; ".join(left_out) + ".")
    out.append(f"What to run next: {next_steps(summary)}.")
    return out


def next_steps(summary: dict) -> str:
    """What would sharpen or extend these numbers, from what the table shows."""
    rows = compared(summary)
    steps = []
    if above := [m["method"] for m in rows if m.get("multiplier_text", "").startswith(">")]:
        steps.append(f"standard budgets past the largest measured one, to give {', '.join(above)} a number instead "
                     "of a bound")
    if any(m["significance"] == "no measurable gain" for m in rows):
        steps.append("an independent replicate (`squeeze run --seed-offset 100`) to see whether the rows without a "
                     "measurable gain keep their label")
    bigger = "more text with `--data`" + (", or `--preset flagship` at D0 = 100,000" if summary["d0"] < 100_000
                                          else "")
    steps.append(f"a bigger D0 for larger effects ({bigger}), the `gpu` preset on a GPU, or more ensemble members")
    return "; ".join(steps)


def about(summary: dict, meta: dict) -> str:
    """What was trained on what: the corpus (its meta.json, {} when absent), runs, D0, seeds, the noise."""
    corpus = (f"{meta.get('source', '?')} corpus: {meta.get('train_tokens', 0):,} training tokens in "
              f"{meta.get('n_train_docs', 0):,} documents, {meta.get('val_tokens', 0):,} validation tokens in "
              f"{meta.get('n_val_docs', 0):,} held-out documents, vocabulary {meta.get('vocab_size', '?')}"
              if meta else "corpus: (no token store in this directory)")
    seeds = sorted({m["seeds"] for m in summary["methods"] if m["single_model"]})
    span = "-".join(map(str, seeds[:1] + seeds[-1:] if len(seeds) > 1 else seeds))
    return (f"{corpus}. {summary['runs']} runs at D0 = {summary['d0']:,.0f} unique training tokens, {span} "
            f"seed{'' if seeds == [1] else 's'} per configuration, read against the standard recipe measured at "
            f"{len(summary.get('standard_points', []))} budgets (pooled seed SD "
            f"{summary.get('noise', {}).get('seed_sd', math.nan):.3f} nats); every number is rebuilt from the run "
            "directories under runs/, beside this file.")


def markdown(blocks: list[tuple]) -> str:
    """report.md from the blocks."""
    parts = []
    for kind, *a in blocks:
        if kind == "h":
            parts.append("#" * a[0] + " " + a[1])
        elif kind in ("p", "headline", "note"):
            parts.append(f"**{a[0]}**" if kind == "headline" else a[0])
        elif kind == "table":
            head, rows = a[0], a[1]
            parts.append("\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                                   + ["| " + " | ".join(r) + " |" for r in rows]))
        elif kind == "img":
            parts.append(f"![{a[1]}]({a[0]})")
        elif kind == "list":
            parts.append("\n".join(f"- {x}" for x in a[0]))
    return "\n\n".join(parts) + "\n"


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    """The table with the method cell left-aligned and the significance cell classed by its words."""
    sig = head.index("beyond noise?")
    cell = lambda i, c: (f'<td class="{"method" if i == 0 else SIG_CLASS.get(c, "") if i == sig else "num"}">'  # noqa: E731
                         f"{html.escape(c)}</td>")
    body = "".join("<tr>" + "".join(cell(i, c) for i, c in enumerate(r)) + "</tr>" for r in rows)
    return (f"<table><thead><tr>{''.join(f'<th>{html.escape(c)}</th>' for c in head)}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


STYLE = ("body{font-family:system-ui,sans-serif;max-width:76rem;margin:1.5rem auto;padding:0 1rem;line-height:1.45;"
         "color:#222}p.headline{font-size:1.2rem;font-weight:600}table{border-collapse:collapse;font-size:.85rem;"
         "width:100%}td,th{border:1px solid #ccc;padding:.25rem .45rem;vertical-align:top}th{background:#f3f3f3;"
         "text-align:left}td{text-align:right}td.method{text-align:left;min-width:14rem}td.num,td.sig-gain,td.sig-loss,td.sig-none{white-space:nowrap}"
         "td.sig-gain{background:#d9f0d3;color:#1b7837;font-weight:600}td.sig-loss{background:#fddbc7;"
         "color:#b2182b;font-weight:600}td.sig-none{color:#555}img{max-width:100%;height:auto}figure{margin:1rem 0}"
         "figcaption,p.note{font-size:.85rem;color:#555}")


def page(blocks: list[tuple], title: str = "squeeze data-efficiency report") -> str:
    """report.html from the blocks: one file, its images beside it, nothing fetched."""
    parts = []
    for kind, *a in blocks:
        if kind == "h":
            parts.append(f"<h{a[0]}>{html.escape(a[1])}</h{a[0]}>")
        elif kind in ("p", "headline", "note"):
            cls = f' class="{kind}"' if kind != "p" else ""
            parts.append(f"<p{cls}>{html.escape(a[0])}</p>")
        elif kind == "table":
            parts.append(_html_table(a[0], a[1]))
        elif kind == "img":
            src = a[2] if len(a) > 2 and a[2] else a[0]  # the page may show an SVG where markdown shows the PNG
            parts.append(f'<figure><img src="{html.escape(src)}" alt="{html.escape(a[1])}">'
                         f"<figcaption>{html.escape(a[1])}</figcaption></figure>")
        elif kind == "list":
            parts.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in a[0]) + "</ul>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' "
            f"content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")

