"""Tests for squeeze/study/report_page.py: the headline sentence, the bullets, the table (with the law column
collapsed into one note when the law is degenerate), relative paths and the two renderers, on made-up summaries
whose every sentence is known by hand. The page in a real browser: tests/test_run.py."""
from pathlib import Path

from squeeze.study import report_page as rp


def m(method, sig, mult, text, cert="certified", seeds=3, single=True, interval=None, law_note=""):
    return {"method": method, "significance": sig, "multiplier": mult, "multiplier_text": text, "certificate": cert,
            "seeds": seeds, "single_model": single, "interval": interval, "val_loss": 5.0, "seed_sd": 0.01,
            "val_bpb": 3.0, "law_multiplier": 0.88, "law_interval": [0.87, 0.89], "law_note": law_note,
            "params": 1000, "flops_own": 1e9, "flops_total": 2e9}


def summary(*rows, d0=10_000):
    return {"runs": 12, "d0": d0, "standard_points": [{}, {}, {}], "noise": {"seed_sd": 0.05},
            "methods": [m("standard", "reference", 1.0, "1.00x", cert="edge (best at the edge of the epochs grid)"),
                        *rows]}


GAINS = summary(m("a, with a comma", "significant gain", 1.3, "1.30x [1.10, 1.50]", interval=[1.1, 1.5]),
                m("b", "significant gain", 1.2, "1.20x [1.05, 1.35]", cert="not certified (1 missing)"),
                m("c", "no measurable gain", 1.0, "1.02x [0.90, 1.10]", cert="n/a", single=False),
                m("d", "significant loss", 0.7, "0.70x [0.60, 0.80]"))


def test_the_headline_is_one_sentence_on_the_largest_gain_and_its_interval():
    assert rp.headline(GAINS) == (
        "A, with a comma gained the most: the standard recipe, tuned the same way, would need 1.30 times the data to "
        "reach its loss (90% interval over seed noise: 1.10 to 1.50 times), the largest of 2 gains beyond noise "
        "among 4 methods at D0 = 10,000 tokens.")
    bound = summary(m("far", "significant gain", None, "> 4x [3.10, > 4]"), m("near", "significant gain", 3.0,
                                                                              "3.00x [2.5, 3.5]"))
    assert "far gained the most" in rp.headline(bound).lower()  # a bound past the measured range ranks first
    assert "need more than 4 times the data" in rp.headline(bound) and "3.10 to more than 4 times" in \
        rp.headline(bound)
    none = summary(m("x", "no measurable gain", 1.1, "1.10x [0.95, 1.28]"), m("y", "significant loss", 0.8,
                                                                              "0.80x [0.7, 0.9]"))
    assert rp.headline(none) == ("No method gained beyond seed noise: the largest multiplier, 1.10 times the data "
                                 "for x, has a 90% interval (0.95 to 1.28 times) that does not lie above 1.0x.")
    assert rp.headline(summary()).startswith("Only the standard recipe was measured")


def test_bullets_say_what_helped_what_did_not_what_is_not_certified_and_what_next():
    b = rp.bullets(GAINS, ["e (not resolved: C at its bound)"])
    assert b[0] == "Helped beyond noise: 2 of 4 methods: a, with a comma 1.30x; b 1.20x."
    assert b[1] == "No measurable gain (the interval includes 1.0x): 1 of 4 methods: c 1.02x."
    assert b[2] == "Worse than the standard recipe beyond noise: 1 of 4 methods: d 0.70x."
    assert b[3] == ("Not certified as locally optimal: standard (edge (best at the edge of the epochs grid)); "
                    "b (not certified (1 missing)).")
    assert b[4] == "Not in the picture (no interval to draw): e (not resolved: C at its bound)."
    assert b[5].startswith("What to run next: an independent replicate (`squeeze run --seed-offset 100`)")
    assert "or `--preset flagship` at D0 = 100,000" in b[5]
    assert "flagship" not in rp.bullets({**GAINS, "d0": 100_000})[-1]  # not at the flagship's own D0
    many = summary(*(m(f"g{i}", "significant gain", 1 + i / 10, f"{1 + i / 10:.2f}x [1.01, 2]") for i in range(1, 7)))
    assert rp.bullets(many)[0] == ("Helped beyond noise: 6 of 6 methods, from g6 1.60x; g5 1.50x; g4 1.40x "
                                   "down to g1 1.10x.")
    worse = summary(*(m(f"w{i}", "significant loss", 1 - i / 10, f"{1 - i / 10:.2f}x [0.1, 0.99]") for i in range(5)))
    assert rp.bullets(worse)[1] == ("Worse than the standard recipe beyond noise: 5 of 5 methods, from w0 1.00x; "
                                    "w1 0.90x; w2 0.80x down to w4 0.60x.")
    assert rp.bullets(many)[1] == "Did not help: none; every method's interval lies above 1.0x."
    bound = summary(m("far", "significant gain", None, "> 4x [3.10, > 4]"))
    assert "standard budgets past the largest measured one, to give far a number" in rp.bullets(bound)[-1]


def test_selection_rows_are_read_against_the_control():
    rows = summary(m("data selection: random", "significant gain", 1.3, "1.30x [1.15, 1.46]", interval=[1.15, 1.46]),
                   m("data selection: up", "significant gain", 1.8, "1.80x [1.50, 2.1]", interval=[1.5, 2.1]),
                   m("data selection: down", "no measurable gain", 1.0, "1.0x [0.8, 1.1]", interval=[0.8, 1.1]),
                   m("data selection: same", "significant gain", 1.4, "1.40x [1.2, 1.6]", interval=[1.2, 1.6]))
    (line,) = [b for b in rp.bullets(rows) if b.startswith("Data selection")]
    assert line == ("Data selection against its control, a random subset of the same tokens (1.30x [1.15, 1.46]): "
                    "up above; down below; same overlaps (the control's interval; a selection method's own effect "
                    "is its distance from the control, not from 1.0x).")
    assert not any(b.startswith("Data selection") for b in rp.bullets(GAINS))  # no control, no line


def test_a_degenerate_law_collapses_its_column_into_one_note():
    fit = {"A": 3.0, "B": 0.2, "C": 0.0, "degenerate": True, "reason": "C at its bound 0"}
    s = {**summary(m("a", "significant gain", 1.3, "1.30x [1.1, 1.5]", law_note="degenerate law (C = 0)")),
         "fits": {"data_scaling": {"fit": fit}}}
    s["methods"][0]["law_note"] = "degenerate law (C = 0)"
    head, rows = rp.table(s)
    assert "law [90%]" not in head and len(rows[1]) == len(head) and "0.88x" not in " ".join(rows[1])
    assert rp.law_note(s) == ("No law column: the standard recipe's fitted law is degenerate (C at its bound 0), "
                              "so every multiplier is read by interpolation between the measured standard points "
                              "(summary.json keeps the law's figures).")
    for row in s["methods"]:
        row["law_note"] = ""
    head, rows = rp.table(s)
    assert rows[1][head.index("law [90%]")] == "0.88x [0.87, 0.89]" and rp.law_note(s) == ""
    assert rows[1][:3] == ["a", "1.30x [1.1, 1.5]", "significant gain"]  # the multiplier beside the method
    assert rows[1][head.index("FLOPs own / total")] == "1e+09 / 2e+09"
    assert rows[0][1:3] == ["1.00x (reference)", "-"] and rows[0][-1] == "edge"


def test_about_counts_seeds_and_names_the_corpus():
    text = rp.about(GAINS, {})
    assert "corpus: (no token store in this directory). 12 runs at D0 = 10,000" in text
    assert "3 seeds per configuration" in text and "pooled seed SD 0.050 nats" in text
    one = {**GAINS, "methods": [{**r, "seeds": 1} for r in GAINS["methods"]]}
    assert "1 seed per configuration" in rp.about(one, {})


def test_paths_are_relative_to_the_study_directory(tmp_path):
    assert rp.rel(str(tmp_path / "runs" / "a" / "s0"), tmp_path) == str(Path("runs/a/s0"))
    assert rp.rel("/elsewhere/x", tmp_path) == "/elsewhere/x"


def test_the_page_puts_the_headline_then_the_picture_then_the_table_and_fetches_nothing():
    head, rows = rp.table(GAINS)
    blocks = [("h", 1, "report"), ("headline", rp.headline(GAINS)), ("img", "m.png", "the <forest>", "m.svg"),
              ("table", head, rows), ("list", rp.bullets(GAINS)), ("img", "d.png", "scaling", None)]
    page = rp.page(blocks)
    order = [page.index(s) for s in ('<p class="headline">A, with a comma', '<img src="m.svg"', "<table>", "<ul>",
                                     '<img src="d.png"')]
    assert order == sorted(order)
    assert "the &lt;forest&gt;" in page and '<td class="sig-gain">significant gain</td>' in page
    assert '<td class="sig-loss">significant loss</td>' in page and '<td class="method">b</td>' in page
    assert "http" not in page.replace("<!doctype html>", "") and "@import" not in page and "url(" not in page
    md = rp.markdown(blocks)
    assert md.index("**A, with a comma gained") < md.index("![the <forest>](m.png)") < md.index("| method |")
    assert len(rows) == len(GAINS["methods"])
