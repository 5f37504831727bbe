"""The benchmarks' parts that run in seconds (the benchmarks themselves take minutes to hours): throughput.py's
arithmetic by hand, the flagship's clock and carry, the pruning frontier's report, plan, carry and interim walk on
fake runs, and CPT's rows against scratch."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import flagship  # noqa: E402  (a script folder, not a package)
import throughput  # noqa: E402


def test_reference_flops_per_token_by_hand():
    # 4 x 128, ctx 256, vocab 4096: 6 x (12·4·128² + 4096·128) + 12·4·128·256 = 6 x 1,310,720 + 1,572,864
    assert throughput.ref_flops_per_token(throughput.Shape(4, 128, 256, 4096, 60)) == 9_437_184


def test_steady_rate_is_the_median_chunk_and_startup_the_excess_before_skip():
    # chunks of 1,000 tokens after step 10 take 1.0, 1.2 and 0.8 s: median 1 ms per token, 1,000 tok/s; the
    # 2,000 tokens up to step 10 took 4.0 s where the steady rate needs 2.0: 2.0 s of start-up
    m = throughput.steady([5, 10, 15, 20, 25], [3.0, 4.0, 5.0, 6.2, 7.0], [1000, 2000, 3000, 4000, 5000], skip=10)
    assert m.tok_s == pytest.approx(1000) and m.startup_s == pytest.approx(2.0)


def test_shapes_parse_with_their_default_steps():
    assert throughput.parse_shape("2x64:128:1024", None) == throughput.Shape(2, 64, 128, 1024, 150)
    assert throughput.parse_shape("4x128:256:4096", 80) == throughput.Shape(4, 128, 256, 4096, 80)
    assert throughput.parse_shape("4x128:256:4096", None).name == "4x128:256:4096"


def test_the_flagship_clock_sums_invocations_and_keeps_a_killed_ones_last_beat(tmp_path, monkeypatch):
    import json
    now = iter([100.0, 130.0, 160.0, 500.0, 510.0])  # perf_counter: two invocations
    monkeypatch.setattr(flagship.time, "perf_counter", lambda: next(now))
    first = flagship.Clock(tmp_path / "t.json")  # t0 = 100
    assert first.write() == (30.0, 1)  # a heartbeat at 130
    assert first.write() == (60.0, 1)  # at 160; then the process is killed without a last write
    second = flagship.Clock(tmp_path / "t.json")  # t0 = 500: the killed invocation counts its last beat, 60 s
    assert second.write() == (70.0, 2)
    saved = json.loads((tmp_path / "t.json").read_text())
    assert [i["seconds"] for i in saved["invocations"]] == [60.0, 10.0] and saved["seconds"] == 70.0


def test_the_flagship_carry_holds_the_small_files_and_restores_them(tmp_path):
    import shutil
    out, new = tmp_path / "out", tmp_path / "new"
    small = {"flagship_time.json": "{}", "study.json": "{}", "runs/standard/r1/config.json": "{}",
             "runs/standard/r1/summary.json": '{"val_loss": 4.5}', "runs/standard/r1/metrics.jsonl": "{}\n",
             "runs/selection/masks/random_s0.json": "[1, 0]", "runs/ensemble/L2d64/ensemble.json": "{}"}
    big = ["runs/standard/r1/model.safetensors", "runs/standard/r1/state.pt",
           "runs/snapshot/s0/snapshot001.safetensors", "data/train.bin", "data/tokenizer.json",
           "estimate_run/config.json", ".lock"]
    for name, text in {**small, **{b: "x" for b in big}}.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    carry = tmp_path / "state.tar.xz"
    assert flagship.pack(out, carry) == len(small)
    with pytest.raises(flagship.SqueezeError, match=f"packed from --out {out}; resume it there"):
        flagship.unpack(carry, new)  # the runs' configs name OUT's store by absolute path
    assert not new.exists()
    shutil.rmtree(out)  # as a new checkout finds it
    assert flagship.unpack(carry, out) == len(small)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(small)
    assert all((out / name).read_text() == text for name, text in small.items())


def _fake_frontier_rows():
    """3 pools x fractions 0.25-1.0: a power law in kept tokens, easy 0.1 nats better than hard at the smallest pool
    and 0.1 worse at the largest, and a second seed 0.02 above the first."""
    rows = []
    for pool, gap in ((25_000, -0.1), (100_000, 0.0), (400_000, 0.1)):
        rows.append({"pool": pool, "method": "full pool", "fraction": 1.0, "kept": pool, "epochs": 8,
                     "losses": [30 / pool ** 0.3 + 2.5, 30 / pool ** 0.3 + 2.52], "certificate": "certified"})
        for f in (0.25, 0.5, 0.75):
            kept = round(f * pool)
            law = 30 / kept ** 0.3 + 2.5
            for method, shift in (("prototypes-easy", gap), ("prototypes-hard", 0.0), ("random", 0.05)):
                rows.append({"pool": pool, "method": method, "fraction": f, "kept": kept, "epochs": 8,
                             "losses": [law + shift, law + shift + 0.02],
                             "certificate": "edge" if method == "random" else "certified"})
    return rows


def test_the_frontier_report_from_fake_rows(tmp_path):
    import pruning_frontier_report as report
    rep = report.build(_fake_frontier_rows(), n_boot=20)
    # at 25k kept tokens the full 25k pool and hard at 0.25 of 100k have the same seed mean: the first given wins
    first = {p["kept"]: p for p in rep["frontier"]}
    assert first[25_000]["pool"] == 25_000 and first[25_000]["method"] == "full pool"
    assert first[6_250]["method"] == "prototypes-easy"  # easy is 0.1 nats better at the smallest pool
    assert first[300_000]["method"] == "prototypes-hard"
    assert [r["keep"] for r in rep["regime"]] == ["easy", "either", "hard"]
    assert rep["regime"][0]["easy_minus_hard"] == pytest.approx(-0.1)
    # the 100k pool's difference is 0 (no sign): the change is read between 25k and 400k, crossing halfway in log
    assert rep["sign_change"] == {"between": [25_000, 400_000], "pool": 100_000, "from": "easy", "to": "hard",
                                  "beyond_noise": True}
    assert rep["forms"]["verdict"] in ("power law", "exponential", "cannot tell apart")
    md = report.markdown(rep)
    assert "| 25,000 | 0.25 (6,250) |" in md and "full pool:" in md and "(edge)" in md
    assert "keep **easy**" in md and "keep **hard**" in md
    paths = report.write(rep, tmp_path)
    assert all(p.stat().st_size > 0 for p in paths)
    rule = report.rule(rep)
    assert rule["measured"] and rule["default"] == "easy"
    assert [p["keep"] for p in rule["pools"]] == ["easy", "either", "hard"]
    target = tmp_path / "keep_rule.py"
    target.write_text('"""doc"""\n\nRULE = {"measured": False}\n')
    ns = {}
    exec(report.write_rule(rep, target).read_text(), ns)
    assert ns["RULE"] == rule and "Written by benchmarks/pruning_frontier.py --write-rule" in ns["__doc__"]
    assert rule["reason"] == ("measured easy minus hard per pool size: easy at 25,000 tokens; hard at 400,000 tokens; "
                              "either at 100,000 tokens (no measurable difference); the sign changes between 25,000 "
                              "and 400,000 tokens")


def test_the_frontier_carries_its_runs_masks_and_clock_but_no_weights(tmp_path):
    import pruning_frontier
    out = tmp_path / "out"
    small = ["frontier_time.json", "runs/P25000/masks/random_f0.25_s1.json",
             "runs/P25000/random_f0.25/b25000/L2d64/lr0.004_wd6.4_ep16_s1/summary.json"]
    for name in [*small, "runs/P25000/full-pool/b25000/L2d64/lr0.004_wd6.4_ep16_s0/model.safetensors",
                 "data/train.bin", "flagship_time.json", "estimate_run/config.json"]:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("{}")
    assert [str(p.relative_to(out)) for p in flagship.carried(out, pruning_frontier.CARRY_DIRS)] == sorted(small)
    assert flagship.pack(out, tmp_path / "c.tar.xz", pruning_frontier.CARRY_DIRS) == len(small)


def test_the_frontier_plan_by_hand():
    import pruning_frontier as pf
    plan = pf.FULL_PLAN
    cells = pf.cells(plan)
    assert len(cells) == 3 * (1 + 3 * 7) and len({c.kept for c in cells}) == 10  # 25k and 100k kept twice
    assert (plan.start_epochs(6_250), plan.start_epochs(50_000), plan.start_epochs(300_000)) == (16, 8, 4)
    random = pf.CellKey(100_000, "random", 0.25)
    assert random.kept == 25_000 and random.mask(Path("o"), 2) == Path("o/runs/P100000/masks/random_f0.25_s2.json")
    assert pf.CellKey(100_000, "semdedup", 0.5).mask(Path("o"), 2).name == "semdedup_f0.5.json"  # one for all seeds
    assert pf.CellKey(25_000, pf.FULL, 1.0).mask(Path("o"), 0) is None


def test_cpt_rows_read_against_the_scratch_standard_by_hand(tmp_path):
    import cpt

    from squeeze.io import write_json
    noise = {"seed_sd": 0.01, "dof": 40}
    for name in ("scratch-10k", "cpt-10k"):
        (tmp_path / name).mkdir()
    points = [{"budget": b, "loss": y, "seeds": 3} for b, y in ((5e3, 4.6), (1e4, 4.2), (2e4, 3.8), (4e4, 3.4))]
    write_json(tmp_path / "scratch-10k" / "summary.json", {"standard_points": points, "noise": noise})
    rows = [{"method": "standard recipe (tuned lr, epochs)", "val_loss": 3.6, "seeds": 8},
            {"method": "base, no training on the domain", "val_loss": 7.0, "seeds": 1}]
    write_json(tmp_path / "cpt-10k" / "summary.json", {"methods": rows, "noise": noise})
    lines = cpt.against_scratch(tmp_path)  # the 20k pair is missing: its rows are left out
    assert len(lines) == 4 and lines[0].startswith("| D0 |")
    # 3.6 lies halfway from 3.8 (20k) to 3.4 (40k): sqrt(20k x 40k) = 28,284 scratch tokens, 2.83x the 10k D0
    assert lines[2].startswith("| 10,000 | standard recipe (tuned lr, epochs) | 3.6000 (8) | 2.83x [")
    assert "< 0.5x [< 0.5, < 0.5]" in lines[3]  # worse than the smallest scratch budget: a bound, no number
    assert cpt.against_scratch(tmp_path / "nothing") == []


def _finished_frontier_run(pf, plan, cell, out, epochs, seed, loss):
    """A fake finished run of the frontier's `cell`: its config as the benchmark would write it and a summary."""
    from squeeze import config as config_mod
    base = pf.base_config(plan, out.parent / "no-store")
    j = pf.job(plan, base, cell, out, pf.GridPoint(cell.pool, *plan.size, plan.lr, plan.wd, epochs, seed))
    j.run_dir.mkdir(parents=True)
    config_mod.save(j.cfg, str(j.run_dir / "config.json"))
    (j.run_dir / "summary.json").write_text(json.dumps({"val_loss": loss}))


def test_the_frontier_interim_table_walks_each_cell_as_far_as_its_finished_runs(tmp_path):
    """--interim reads a cell as the full run would: its grid widened while the best sits on an edge and every point
    has its first seed, new points trained before more seeds, its best so far shown with a certificate that says it
    is not final, and certified once it is."""
    import pruning_frontier as pf
    plan, out = pf.SMOKE_PLAN, tmp_path / "out"
    cell = pf.CellKey(plan.pools[0], pf.FULL, 1.0)

    def finished(epochs, seed, loss):
        _finished_frontier_run(pf, plan, cell, out, epochs, seed, loss)

    def state():
        g, cert = pf.walk(plan, cell, pf.grid(plan, cell), out)
        row = next(r for r in pf.interim(plan, out) if r["method"] == pf.FULL and r["pool"] == cell.pool)
        todo = sorted((p.epochs, p.seed) for p in pf.unexplored(g, cert) or cert.missing)  # certify_cells' next
        return g.epochs, (row["epochs"], row["losses"], row["certificate"]), todo

    # 2 epochs (the smoke plan's start) with both seeds, 1 and 4 at seed 0: 4 is better and sits on the edge, so
    # the grid widens to 8 before 4 gets its second seed (exploring first), and 8 at seed 0 is trained next
    for epochs, seed, loss in ((2, 0, 3.0), (2, 1, 3.02), (1, 0, 3.2), (4, 0, 2.9)):
        finished(epochs, seed, loss)
    assert state() == ([1, 2, 4, 8], (4, [2.9], "not certified"), [(8, 0)])
    finished(8, 0, 3.1)  # worse: 4 stops moving, and now gets its second seed
    assert state() == ([1, 2, 4, 8], (4, [2.9], "not certified"), [(4, 1)])
    finished(4, 1, 2.92)
    assert state() == ([1, 2, 4, 8], (4, [2.9, 2.92], "certified"), [])


def test_the_frontier_walk_stops_at_its_epochs_ceiling_and_says_capped(tmp_path):
    """With max_epochs 4, a best at 4 epochs that is better than 2 gets its seeds and stays there: the grid never
    reaches 8, and the cell reads "capped" (its loss an upper bound), not certified."""
    import dataclasses

    import pruning_frontier as pf
    plan, out = dataclasses.replace(pf.SMOKE_PLAN, max_epochs=4), tmp_path / "out"
    cell = pf.CellKey(plan.pools[0], pf.FULL, 1.0)
    for epochs, seed, loss in ((2, 0, 3.0), (2, 1, 3.02), (1, 0, 3.2), (4, 0, 2.9), (4, 1, 2.92)):
        _finished_frontier_run(pf, plan, cell, out, epochs, seed, loss)
    g, cert = pf.walk(plan, cell, pf.grid(plan, cell), out)
    assert (g.epochs, cert.missing) == ([1, 2, 4], [])  # nothing left to train for this cell
    row = next(r for r in pf.interim(plan, out) if r["method"] == pf.FULL and r["pool"] == cell.pool)
    assert (row["epochs"], row["losses"], row["certificate"]) == (4, [2.9, 2.92], "capped")
    uncapped = next(r for r in pf.interim(pf.SMOKE_PLAN, out) if r["method"] == pf.FULL and r["pool"] == cell.pool)
    assert uncapped["certificate"] == "not certified"  # without the ceiling it walks on to 8
    assert "capped" in pf.report.markdown(pf.report.build([row], n_boot=5))
