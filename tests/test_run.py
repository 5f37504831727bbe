"""`squeeze run --preset smoke` end to end on the built-in corpus: every planned run finishes, the report and its
plots exist, the printed and saved numbers equal those recomputed from the run directories, a re-run trains
nothing."""
import json
import sys
from pathlib import Path

import pytest

from squeeze.cli import main
from squeeze.errors import SqueezeError
from squeeze.presets import PRESETS
from squeeze.runs.results import collect

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "out"
    return out, main(["run", "--preset", "smoke", "--out", str(out)])


def test_smoke_study_runs_every_step_and_reports(smoke_study, capsys):
    from squeeze.study.report import summarize
    out, code = smoke_study
    assert code == 0
    rows = collect(out / "runs")
    assert rows and all(r["finished"] for r in rows)
    spec = PRESETS["smoke"].study
    std = {(r["budget_tokens"], r["n_layer"], r["d_model"]) for r in rows if r["recipe"] == "standard"}
    assert {(spec.d0 * k, *spec.std_sizes[0]) for k in (1, 2, 4, 8)} <= std  # the four budgets of the law
    reg = {(r["n_layer"], r["d_model"]) for r in rows if r["recipe"] == "regularized"}
    assert reg == set(spec.reg_sizes)
    for name in ("report.md", "report.html", "summary.json"):
        assert (out / name).stat().st_size > 0
    for name in ("multipliers.png", "data_scaling.png", "param_scaling.png", "training_curves.png", "ensemble_k.png"):
        assert (out / name).read_bytes()[:8] == PNG
    assert "<svg" in (out / "multipliers.svg").read_text()
    report_md = (out / "report.md").read_text()
    assert "data_scaling.png" in report_md and "| method |" in report_md
    # the forest plot right under the headline, before the table: PNG in report.md, SVG in report.html
    parts = report_md.split("\n\n")
    assert parts[1].startswith("**") and parts[2].startswith("![") and "(multipliers.png)" in parts[2]
    assert parts[3].startswith("| method |")
    page = (out / "report.html").read_text()
    assert page.index('<p class="headline">') < page.index('<img src="multipliers.svg"') < page.index("<table>")
    assert str(out) not in page  # every path relative to the study's directory

    saved = json.loads((out / "summary.json").read_text())
    assert json.loads(json.dumps(summarize(out))) == saved  # rebuilt from the run directories alone
    for m in saved["methods"]:
        if m["single_model"]:  # each row's loss is its run's own summary.json, or the mean over its seeds' runs
            run = next(r for r in rows if r["path"] == m["path"])
            same = [r["val_loss"] for r in rows if all(r[k] == run[k] for k in (
                "recipe", "budget_tokens", "n_layer", "d_model", "lr", "weight_decay", "epochs"))]
            assert len(same) == m["seeds"] and sum(same) / len(same) == pytest.approx(m["val_loss"], abs=1e-12)
    ens = saved["ensembles"]
    assert [e["k"] for e in ens] == [spec.ensemble_k] * len(spec.ensemble_sizes)
    assert any(m["method"] == "distilled student" and "ensemble's gain" in m["note"] for m in saved["methods"])
    # a student's interval is over its own seeds only, and its note says the teachers' noise is not in it
    assert all("teachers' own noise is not in it" in m["note"] for m in saved["methods"]
               if m["method"].startswith("distilled student"))
    assert {m["method"] for m in saved["methods"]} >= {"best recipe (regularized + options that helped)",
                                                       "data selection: random"}
    assert saved["best_model"]["val_loss"] == min(m["val_loss"] for m in saved["methods"] if m["single_model"])


def test_smoke_study_rerun_trains_nothing_and_prints_the_same_table(smoke_study, capsys):
    out, _ = smoke_study
    capsys.readouterr()
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("model.safetensors")}
    assert main(["run", "--preset", "smoke", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "finished earlier" in captured.err
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("model.safetensors")} == mtimes
    saved = json.loads((out / "summary.json").read_text())
    for m in saved["methods"]:
        assert f"{m['val_loss']:.4f}" in captured.out and m["method"] in captured.out
    assert main(["report", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text()) == saved


def test_a_moved_study_reports_from_its_own_runs(smoke_study, tmp_path):
    import shutil
    out, _ = smoke_study
    moved = tmp_path / "elsewhere"
    shutil.copytree(out, moved, ignore=shutil.ignore_patterns("data"))  # the runs name their store, kept in place
    assert main(["report", str(moved)]) == 0
    saved, again = (json.loads((d / "summary.json").read_text()) for d in (out, moved))
    assert [m["val_loss"] for m in again["methods"]] == [m["val_loss"] for m in saved["methods"]]
    assert all(d.startswith(str(moved / "runs")) for e in again["ensembles"] for d in e["members"])
    assert any("ensemble's gain" in m["note"] for m in again["methods"])  # the student still finds its teachers


def test_report_of_a_directory_without_runs_fails_clearly(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a study directory" in capsys.readouterr().err


def test_output_store_from_other_data_is_refused(tmp_path):
    from squeeze.data.prepare import ensure_store
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "meta.json").write_text(json.dumps({"source": "builtin", "vocab_size": 512}))
    assert ensure_store(None, tmp_path, 512) == tmp_path / "data"
    with pytest.raises(SqueezeError, match="prepared from builtin with vocabulary 512, not builtin with 4096"):
        ensure_store(None, tmp_path, 4096)


def test_best_recipe_gets_its_epochs_certified(smoke_study, tmp_path):
    """With certification on, the best step trains the options at E/2, E and 2E (walking on past an edge that
    wins) and stops at a certified epoch count: the options are not stuck with the regularized recipe's epochs."""
    from dataclasses import replace

    from squeeze.study.certify import certify
    from squeeze.study.grid import Grid, GridPoint, point_config
    from squeeze.study.steps import StudyState, best
    from squeeze.study.steps.base import Study
    out, _ = smoke_study
    spec = replace(PRESETS["smoke"].study, certify=True)
    st = Study(replace(PRESETS["smoke"], study=spec), out / "data", tmp_path, workers=1)
    reg = st.base("regularized")
    point = GridPoint(spec.d0, *spec.main, lr=8e-3, weight_decay=0.8, epochs=2, seed=0)
    best.run(st, StudyState(best=point_config(reg, point)))
    rows = [r for r in collect(tmp_path / "runs") if r["finished"]]
    assert rows and {r["recipe"] for r in rows} == {"best"}
    assert all(json.loads((Path(r["path"]) / "summary.json").read_text())["mean_depth"] > 2 for r in rows)  # looped
    epochs = sorted({r["epochs"] for r in rows})
    assert {1, 2, 4} <= set(epochs)
    grid = Grid(lr=[8e-3], weight_decay=[0.8], epochs=epochs, sizes=[spec.main], budgets=[spec.d0])
    cert = certify(rows, grid, ("epochs",), best_seeds=spec.seeds)
    assert cert.certified and cert.n_seeds == spec.seeds  # decided on the best's seed mean


def test_progress_adds_a_step_that_outgrew_its_estimate_to_the_plan(capsys):
    """A step whose certificate walked on (3x its estimate here) raises the planned total; the later steps keep
    their share, so the percentage does not run ahead of the work left."""
    from squeeze.config import Config
    from squeeze.runs.execute import Job, Outcome, estimated_cost
    from squeeze.study.progress import StudyProgress
    cfg = Config()
    cfg.data.budget_tokens = 1000
    c = estimated_cost(cfg)
    p = StudyProgress((c, c, c), steps=("a", "b", "c"))
    p.next_step()
    for _ in range(3):
        p(0, Job(cfg, Path("x")), Outcome())
    assert p.planned == pytest.approx(5 * c)  # 3c done + steps b and c
    assert "60% of the planned compute" in capsys.readouterr().err.splitlines()[-1]
    p.next_step()
    p(0, Job(cfg, Path("x")), Outcome(skipped=True))  # a run finished earlier counts as done
    assert p.planned == pytest.approx(5 * c) and p.done == pytest.approx(4 * c)


# The smoke study's numbers as the study code gave them before the command/library split. Every run is fp32 on a
# CPU (squeeze/device/precision.py), but CPUs with other instruction sets take other matmul kernels, and their ~1e-7
# differences grow over training; 5e-3 nats is well under any effect the smoke study could show and well over
# what kernel choice moves. On the CPU that made the file the study reproduced it bit for bit.
GOLDEN_TOLERANCE = 5e-3


def test_the_study_records_its_selection_rule_and_follows_it(smoke_study):
    """study.json says whether the prototypes row kept the easy or the hard documents and why (squeeze/prune/
    rule.py at the pool of 2 x D0), and the row, its runs and its mask are the ones that direction gives."""
    from squeeze.study.steps import selection
    out, _ = smoke_study
    spec = PRESETS["smoke"].study
    recorded = json.loads((out / "study.json").read_text())["selection_rule"]
    assert recorded == selection.rule(spec).as_dict() and recorded["pool_tokens"] == 2 * spec.d0
    assert recorded["reason"]
    mask = json.loads((out / "runs" / "selection" / "masks" / f"prototypes-{recorded['keep']}.summary.json")
                      .read_text())
    assert mask["hard"] == (recorded["keep"] == "hard")
    methods = {m["method"]: m for m in json.loads((out / "summary.json").read_text())["methods"]}
    row = methods[f"data selection: prototypes-{recorded['keep']}"]
    assert row["note"].endswith(f"; {recorded['keep']} by the keep rule: {recorded['reason']}")  # the report says why


def test_smoke_study_matches_the_golden_losses(smoke_study):
    out, code = smoke_study
    assert code == 0
    golden = json.loads((Path(__file__).parent / "golden" / "smoke_study.json").read_text())
    saved = json.loads((out / "summary.json").read_text())
    got = {m["method"]: m for m in saved["methods"]}
    assert set(got) == set(golden["methods"])
    for name, want in golden["methods"].items():
        assert got[name]["val_loss"] == pytest.approx(want["val_loss"], abs=GOLDEN_TOLERANCE), name
        if want["val_bpb"] is None:  # a learned mixture has no bits per byte
            assert got[name]["val_bpb"] is None, name
        else:
            assert got[name]["val_bpb"] == pytest.approx(want["val_bpb"], abs=GOLDEN_TOLERANCE), name
    assert saved["fits"]["data_scaling"]["best_losses"] == pytest.approx(golden["standard_best_losses"],
                                                                         abs=GOLDEN_TOLERANCE)


def test_the_published_results_in_their_own_terms(smoke_study):
    """Issue 31's rows in summary.json: every limit with an interval or a 'not resolved:' reason (the smoke study's
    3 ensemble sizes read 'not resolved: 3 sizes' for the two-stage limit), the ensemble at the single-model
    optimum beside the one tuned for the ensemble at the same K, the snapshot rows' uniform and learned losses, and
    the students' parameter fractions with their retention intervals."""
    out, _ = smoke_study
    saved = json.loads((out / "summary.json").read_text())
    spec = PRESETS["smoke"].study
    limits = {x["what"]: x for x in saved["limits"]}
    assert "regularized recipe, parameters -> infinity" in limits
    assert len(limits) == 2 + len(spec.ensemble_sizes)
    for x in limits.values():
        assert (x["interval"] is not None and x["loss"] is not None) or x["reason"].startswith("not resolved:")
    both = limits["ensembles, members -> infinity, then parameters -> infinity"]
    assert both["reason"].startswith(("not resolved: 3 sizes", "not resolved: the K -> inf limit is not resolved"))
    methods = {m["method"]: m for m in saved["methods"]}
    main = f"{spec.main[0]}x{spec.main[1]}"
    k = spec.ensemble_k
    assert f"ensemble of {k} x {main} at the single-model optimum" in methods
    tuned = methods[f"ensemble of {k} x {main} tuned for the ensemble"]
    assert "members at wd" in tuned["note"] and not tuned["single_model"]
    assert {f"snapshot ensemble of {k} cycles, uniform",
            f"snapshot ensemble of {k} cycles, learned top-k"} <= set(methods)
    assert "## Limits, in the field's terms" in (out / "report.md").read_text()
    eighth = methods["distilled student at 1/8 of the largest ensemble"]
    assert eighth["param_fraction"] == pytest.approx(1 / 8, rel=0.2) and len(eighth["retention_interval"]) == 2
    assert eighth["retention_interval"][0] <= eighth["retention"] <= eighth["retention_interval"][1]
    c = saved["compute"]  # the study's MFU: its runs' FLOPs over its recorded wall time and measured peak
    assert c["wall_seconds"] > 0 and c["peak_flops"] > 0 and 0 < c["mfu"] < 1
    assert c["flops"] == pytest.approx(sum(r["flops"] for r in collect(out / "runs") if r["finished"] and r["flops"]))
    assert "Compute: " in (out / "report.md").read_text()


def test_ctrl_c_during_the_study_exits_130_and_a_rerun_resumes(smoke_study, monkeypatch, capsys):
    """Ctrl-C while the data-selection step writes its masks (it used to call the CLI from inside the library,
    which turned 130 into a failure and exit 2): exit 130, and the same command then finishes the study. Runs in
    the shared study's directory (its runs hold absolute paths) and leaves it as it was: the re-run trains the
    same selection runs, bit for bit on CPU."""
    import shutil

    from squeeze.study.steps import selection
    out, _ = smoke_study
    names = [f"selection/{m}/s{i}" for m in selection.names(PRESETS["smoke"].study).values() for i in (0, 1)]
    first = {r["name"]: r["val_loss"] for r in collect(out / "runs") if r["finished"]}
    shutil.rmtree(out / "runs" / "selection")

    def interrupted(*a, **kw):
        raise KeyboardInterrupt
    monkeypatch.setattr(selection, "prune_documents", interrupted)
    argv = ["run", "--preset", "smoke", "--out", str(out)]
    assert main(argv) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not any((out / "runs" / n).exists() for n in names)
    monkeypatch.undo()
    assert main(argv) == 0
    again = {r["name"]: r["val_loss"] for r in collect(out / "runs") if r["finished"]}
    assert [again[n] for n in names] == [first[n] for n in names]


def test_every_row_carries_its_noise_and_its_whole_compute(smoke_study):
    """The measurement rules in summary.json: every row has the interpolated and the law multiplier with
    intervals, its seeds and seed spread, a significance label, its own and total FLOPs and a certificate status;
    the standard law has a point at D0/2; selection rows kept their target tokens within 2%."""
    out, _ = smoke_study
    spec = PRESETS["smoke"].study
    saved = json.loads((out / "summary.json").read_text())
    assert [p["budget"] for p in saved["standard_points"]] == [float(b) for b in spec.std_budgets]
    assert all(p["seeds"] >= spec.seeds for p in saved["standard_points"])
    assert saved["noise"]["dof"] > 0 and "parametric bootstrap" in saved["noise"]["method"]
    labels = {"significant gain", "significant loss", "no measurable gain", "reference"}
    for m in saved["methods"]:
        assert {"multiplier", "multiplier_text", "interval", "law_multiplier", "law_interval", "seeds", "seed_sd",
                "significance", "flops_own", "flops_total", "certificate"} <= set(m), m["method"]
        assert m["significance"] in labels and m["flops_total"] >= m["flops_own"] > 0
        assert len(m["interval"]) == 2 and m["interval"][0] <= m["interval"][1]
        if m["single_model"]:
            assert m["seeds"] >= spec.seeds and m["seed_sd"] is not None
        if m["law_note"]:
            assert "degenerate" in m["law_note"]
    student = next(m for m in saved["methods"] if m["method"] == "distilled student")
    assert student["flops_total"] > 3 * student["flops_own"]  # its 3 teachers' training and their forward passes
    for m in saved["methods"]:
        if m["method"].startswith("data selection"):
            assert abs(m["budget"] - spec.d0) <= 0.02 * spec.d0, m


def test_a_seed_offset_study_is_an_independent_replicate(smoke_study, tmp_path, capsys):
    """--seed-offset 10: every run's init and data-order seed start at 10, every row of the table is still there,
    and the losses differ from the offset-0 study's (another replicate, not a copy). The directory keeps its offset."""
    out0, _ = smoke_study
    out = tmp_path / "replicate"
    assert main(["run", "--preset", "smoke", "--out", str(out), "--seed-offset", "10"]) == 0
    rows = collect(out / "runs")
    assert rows and all(r["finished"] for r in rows)
    trained = [r for r in rows if r["recipe"] != "perplexity-reference"]
    assert min(r["seed"] for r in trained) == 10 and min(r["data_seed"] for r in trained) == 10
    # every seed lies in 10 .. 10 + the most seeds any step uses (ensemble members: 3): none was offset twice
    assert max(r["seed"] for r in trained) <= 12 and max(r["data_seed"] for r in trained) <= 12
    got = {m["method"]: m["val_loss"] for m in json.loads((out / "summary.json").read_text())["methods"]}
    base = {m["method"]: m["val_loss"] for m in json.loads((out0 / "summary.json").read_text())["methods"]}
    assert set(got) == set(base) and got != base
    capsys.readouterr()
    assert main(["run", "--preset", "smoke", "--out", str(out), "--seed-offset", "3"]) == 2
    assert "--seed-offset 10, not 3" in capsys.readouterr().err


def _tree(root: Path) -> dict:
    """Every file and folder under root with its modification time and (files) bytes: what must not change."""
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else None) for p in [root, *root.rglob("*")]}


def test_a_study_of_another_config_in_out_is_refused_and_left_as_it_was(smoke_study, tmp_path, capsys):
    """--out holding the smoke study, asked for another preset, seed offset or corpus: one line, exit 2, and not a
    byte, a name or a modification time in it changes (the checks read it before anything is written)."""
    out, _ = smoke_study
    corpus = tmp_path / "other.txt"
    corpus.write_text("one document.\n\n\nanother document.\n")
    before = _tree(out)
    for flags, fragment in ((["--preset", "default"], "this study ran with --preset smoke, not default"),
                            (["--preset", "smoke", "--seed-offset", "4"], "ran with --seed-offset 0, not 4"),
                            (["--preset", "smoke", "--data", str(corpus)], "prepared from builtin with vocabulary")):
        capsys.readouterr()
        assert main(["run", "--out", str(out), *flags]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and fragment in err[0], err
    assert _tree(out) == before


def test_a_run_without_its_metrics_log_draws_no_curve(tmp_path):
    """A run directory copied without metrics.jsonl: the report's training-curve plot skips it, no traceback."""
    from squeeze.study.report_output import _curve_of
    (tmp_path / "summary.json").write_text(json.dumps({"epochs": 2, "tokens_seen": 100}))
    assert _curve_of(str(tmp_path)) == ([], [])
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "step": 5, "val_loss": 4.5}) + "\n")
    assert _curve_of(str(tmp_path)) == ([50.0], [4.5])


def test_a_corpus_too_small_for_the_preset_is_refused_before_training(tmp_path, capsys):
    """A corpus under the standard law's top budget (4 x D0 in the default preset): one line that says how many it
    has, how many the preset needs and what to do; no run starts, and the prepared store is kept for a smaller
    preset."""
    from tests.conftest import synthetic_documents
    corpus = tmp_path / "small.jsonl"
    corpus.write_text("".join(json.dumps({"text": d.text}) + "\n" for d in synthetic_documents(40)))
    out = tmp_path / "out"
    assert main(["run", "--data", str(corpus), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "the default study needs at least 40,000 training tokens (4 x D0" in err and "--preset smoke" in err
    assert not (out / "runs").exists() and (out / "data" / "meta.json").exists()


def test_step_deadlines_share_the_budget_by_planned_compute_and_count_earlier_calls():
    from squeeze.study.run import step_deadlines
    # 10 minutes over steps costing 1 and 3: the first may run to 150 s, the second to 600 s, counted from a study
    # that began 120 s before this call (at 1000 s on the monotonic clock)
    assert step_deadlines(1000 - 120, 10, (1.0, 3.0)) == [1030.0, 1480.0]
    assert step_deadlines(1000, 0, (1.0, 3.0)) == [None, None]  # no budget: walks run to their end


def test_a_study_carried_over_without_weights_retrains_only_what_a_later_step_reads(smoke_study, capsys):
    """benchmarks/flagship.py --carry keeps a study's small files and none of its weights or resume states. A rerun
    then reads finished runs back from their summaries and trains again only the runs whose weights a step still
    has to read: here the main size's ensemble members (its evaluation and a student are missing), one snapshot
    run (its evaluation is missing) and the selection embedder (a mask is missing). Same seeds, so the same numbers
    come back, bit for bit on CPU. Last in this file: it leaves the shared study without most of its weights."""
    from squeeze.study.steps import selection
    out, _ = smoke_study
    spec, runs = PRESETS["smoke"].study, out / "runs"
    saved = json.loads((out / "summary.json").read_text())
    main_ens = runs / "ensemble" / f"L{spec.main[0]}d{spec.main[1]}" / "ensemble.json"
    gone = [main_ens, runs / "distill" / "student" / "s1" / "summary.json",
            runs / "snapshot" / "s0" / "snapshot_ensemble.json",
            runs / "selection" / "masks" / f"{selection.names(spec)['prototypes']}.json"]  # prototypes-easy or -hard
    before = {p: p.read_text() for p in gone}
    for p in [*runs.rglob("*.safetensors"), *runs.rglob("state.pt"), *gone]:
        p.unlink()
    capsys.readouterr()
    assert main(["run", "--preset", "smoke", "--out", str(out)]) == 0
    assert json.loads(main_ens.read_text())["eval"] == json.loads(before[main_ens])["eval"]
    assert all(p.exists() for p in gone)
    retrained = {str(p.parent.relative_to(runs)) for p in runs.rglob("model.safetensors")}
    assert "snapshot/s0" in retrained and "snapshot/s1" not in retrained and "distill/student/s1" in retrained
    assert not any(r.startswith(("standard/", "best/", "headline/")) for r in retrained)  # read back, not trained
    others = [f"ensemble/L{n}d{d}" for n, d in spec.ensemble_sizes if (n, d) != spec.main]
    assert not any(r.startswith(tuple(others)) for r in retrained)  # their evaluations are kept: no weights read
    again = json.loads((out / "summary.json").read_text())
    assert [(m["method"], m["val_loss"]) for m in again["methods"]] == [
        (m["method"], m["val_loss"]) for m in saved["methods"]]


def test_the_report_reads_in_a_browser_at_1280_px(smoke_study):
    """report.html of the smoke study in headless Chromium (tools/report_check.py) at 1280 px wide: every image
    loads, the page is not blank, the headline comes first and the forest plot right under it, the table fits the
    width with every method name on one or two lines, and everything the page refers to lies beside it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import report_check
    if report_check.find_chromium() is None:
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it where apt can): "
                    "report.html was not checked in a browser")
    out, _ = smoke_study
    got = report_check.check(out / "report.html", width=1280)
    assert got["width"] == 1280
    images = {i["src"]: i for i in got["images"]}
    assert {"multipliers.svg", "data_scaling.png", "training_curves.png"} <= set(images)
    assert all(i["loaded"] and i["shown_width"] > 200 and i["shown_height"] > 100 for i in got["images"]), images
    assert got["text_chars"] > 2000 and got["height"] > 2000  # not blank
    assert got["order"][:4] == ["h1", "p.headline", "figure", "table"]
    assert got["scroll_width"] <= 1280 and got["tables"] and all(t["right"] <= 1280 for t in got["tables"])
    lines = dict(got["method_lines"])
    assert len(lines) == len(json.loads((out / "summary.json").read_text())["methods"])
    assert max(lines.values()) <= 2, lines
    assert got["urls"] and all(u.startswith(out.resolve().as_uri() + "/") for u in got["urls"]), got["urls"]


def test_a_corpus_of_long_documents_runs_the_study_without_the_steps_it_cannot_measure(tmp_path, capsys):
    """Documents longer than the smoke study's slices: a 2 x D0 pool of one or two whole documents has no halves
    to compare (the perplexity reference's folds were empty and the study failed), and no whole document fits the
    snapshot step's fitness slice. The study finishes; selection is left out with its reason in study.json, the
    summary and the printed report, and the snapshot row says it has no learned top-k."""
    from tests.conftest import synthetic_documents
    docs = synthetic_documents(180)
    corpus = tmp_path / "long.jsonl"
    corpus.write_text("".join(json.dumps({"text": "".join(d.text for d in docs[i:i + 6])}) + "\n"
                              for i in range(0, len(docs), 6)))
    out = tmp_path / "out"
    assert main(["run", "--data", str(corpus), "--preset", "smoke", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    why = json.loads((out / "study.json").read_text())["selection_skipped"]
    assert why.startswith("not measured: the 4,096-token pool (2 x D0) holds ") and "at least 8" in why
    summary = json.loads((out / "summary.json").read_text())
    assert summary["not_measured"] == {"data selection": why} and f"data selection: {why}" in printed
    methods = {m["method"]: m for m in summary["methods"]}
    assert not any(name.startswith("data selection") for name in methods)
    assert "no learned top-k" in methods["snapshot ensemble of 3 cycles, uniform"]["note"]
    assert not (out / "runs" / "selection").exists()
