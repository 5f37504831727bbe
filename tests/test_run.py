"""`squeeze run --preset smoke` end to end on the built-in corpus: every planned run finishes, the report and its
plots exist, the printed and saved numbers equal those recomputed from the run directories, a re-run trains
nothing."""
import json
from pathlib import Path

import pytest

from squeeze.cli import main
from squeeze.errors import SqueezeError
from squeeze.study.results import collect

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "out"
    return out, main(["run", "--preset", "smoke", "--out", str(out)])


def test_smoke_study_runs_every_step_and_reports(smoke_study, capsys):
    from squeeze.study.plan import STUDIES
    from squeeze.study.report import summarize
    out, code = smoke_study
    assert code == 0
    rows = collect(out / "runs")
    assert rows and all(r["finished"] for r in rows)
    spec = STUDIES["smoke"]
    std = {(r["budget_tokens"], r["n_layer"], r["d_model"]) for r in rows if r["recipe"] == "standard"}
    assert {(spec.d0 * k, *spec.std_sizes[0]) for k in (1, 2, 4, 8)} <= std  # the four budgets of the law
    reg = {(r["n_layer"], r["d_model"]) for r in rows if r["recipe"] == "regularized"}
    assert reg == set(spec.reg_sizes)
    for name in ("report.md", "report.html", "summary.json"):
        assert (out / name).stat().st_size > 0
    for name in ("data_scaling.png", "param_scaling.png", "training_curves.png", "ensemble_k.png"):
        assert (out / name).read_bytes()[:8] == PNG
    report_md = (out / "report.md").read_text()
    assert "data_scaling.png" in report_md and "| method |" in report_md

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
    from squeeze.study.run import ensure_store
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "meta.json").write_text(json.dumps({"source": "builtin", "vocab_size": 512}))
    assert ensure_store(None, tmp_path, 512) == tmp_path / "data"
    with pytest.raises(SqueezeError, match="prepared from builtin with vocabulary 512, not builtin with 4096"):
        ensure_store(None, tmp_path, 4096)


def test_best_recipe_gets_its_epochs_certified(smoke_study, tmp_path):
    """With certification on, the best step trains the options at E/2, E and 2E (walking on past an edge that
    wins) and stops at a certified epoch count: the options are not stuck with the regularized recipe's epochs."""
    from dataclasses import replace

    from squeeze.study import plan
    from squeeze.study.sweep import Grid, certify, point_config
    out, _ = smoke_study
    spec = replace(plan.STUDIES["smoke"], certify=True)
    st = plan.Study(spec, "smoke", out / "data", tmp_path, workers=1)
    reg = st.base("regularized")
    point = {"budget_tokens": spec.d0, "n_layer": spec.main[0], "d_model": spec.main[1], "lr": 8e-3,
             "weight_decay": 0.8, "epochs": 2, "seed": 0}
    plan.options_step(st, point_config(reg, point))
    rows = [r for r in collect(tmp_path / "runs") if r["finished"]]
    assert rows and {r["recipe"] for r in rows} == {"best"}
    assert all(json.loads((Path(r["path"]) / "summary.json").read_text())["mean_depth"] > 2 for r in rows)  # looped
    epochs = sorted(r["epochs"] for r in rows)
    assert {1, 2, 4} <= set(epochs)
    grid = Grid(lr=[8e-3], weight_decay=[0.8], epochs=epochs, sizes=[spec.main], budgets=[spec.d0])
    assert certify(rows, grid, ("epochs",)).certified


def test_progress_adds_a_step_that_outgrew_its_estimate_to_the_plan(capsys):
    """A step whose certificate walked on (3x its estimate here) raises the planned total; the later steps keep
    their share, so the percentage does not run ahead of the work left."""
    from squeeze.config import Config
    from squeeze.study.execute import Job, Outcome
    from squeeze.study.plan import StudyProgress, estimated_cost
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
