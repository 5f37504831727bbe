"""The study's steps as plans, without training: every step's runs take the study's seeds from the one helper
(the offset added once), and each step's cost is computed from the grids it trains."""
import json
import re
from pathlib import Path

import pytest

from squeeze import config as config_mod
from squeeze.presets import PRESETS
from squeeze.recipes import Recipe
from squeeze.study.steps import STEPS, Study, StudyState, headline, nominal_state, standard

OFFSET = 100


def study(preset: str, out: Path, offset: int = OFFSET) -> Study:
    return Study(PRESETS[preset], out / "data", out, workers=2, seed_offset=offset)


def seed_index(run_dir: Path) -> int | None:
    """The study's seed number a run directory names: ..._s<seed> (absolute), s<i> or member<i> (0-based)."""
    if m := re.search(r"_s(\d+)$", run_dir.name):
        return int(m.group(1)) - OFFSET
    if m := re.fullmatch(r"(?:s|member)(\d+)", run_dir.name):
        return int(m.group(1))
    return None


@pytest.mark.parametrize("preset", ["smoke", "default", "flagship"])
def test_every_step_takes_its_seeds_from_the_offset_once(preset, tmp_path):
    """With --seed-offset 100, every planned run of every step has init seed == data-order seed == 100 + i, where
    i is the seed its directory names; an offset added twice would give 200 + i."""
    st = study(preset, tmp_path)
    state = nominal_state(st)
    spec = st.spec
    most = max(spec.seeds, spec.ensemble_k, spec.headline_seeds)
    planned = 0
    for step in STEPS:
        for job in step.plan(st, state):
            planned += 1
            seed = job.cfg.train.seed
            assert seed == job.cfg.data.seed and OFFSET <= seed < OFFSET + most, (step.name, job.run_dir, seed)
            assert seed_index(job.run_dir) == seed - OFFSET, (step.name, job.run_dir)
            assert job.run_dir.is_relative_to(tmp_path / "runs")
    assert planned > 20


def test_headline_tops_up_the_bracket_with_the_next_seeds(tmp_path):
    """The headline step plans seeds 1 .. headline_seeds-1 of the best recipe's configuration and of the two
    standard points around its loss, named and seeded from the offset once (from run directories on disk)."""
    st = study("default", tmp_path)
    d0, rows = st.spec.d0, []

    def run(recipe: str, budget: int, loss: float) -> None:
        d = tmp_path / "runs" / recipe / f"b{budget}" / f"lr0.004_wd0.1_ep8_s{OFFSET}"
        d.mkdir(parents=True)
        cfg = st.seeded(st.base(recipe), 0)
        cfg.data.budget_tokens = budget
        config_mod.save(cfg, str(d / "config.json"))
        rows.append({"recipe": recipe, "budget_tokens": budget, "val_loss": loss, "finished": True, "seed": OFFSET,
                     "path": str(d), "params": 1, "n_layer": 2, "d_model": 64, "lr": 4e-3, "weight_decay": 0.1,
                     "epochs": 8})
    run(Recipe.BEST, d0, 4.0)
    for budget, loss in ((d0 // 2, 4.5), (d0, 4.2), (2 * d0, 3.9), (4 * d0, 3.6)):
        run(Recipe.STANDARD, budget, loss)
    jobs = headline.jobs_for(st, rows)
    want = list(range(OFFSET + 1, OFFSET + st.spec.headline_seeds))
    by_budget: dict[int, list[int]] = {}
    for job in jobs:
        assert job.cfg.train.seed == job.cfg.data.seed and job.run_dir.name.endswith(f"_s{job.cfg.train.seed}")
        by_budget.setdefault((job.cfg.recipe, job.cfg.data.budget_tokens), []).append(job.cfg.train.seed)
    assert by_budget == {(Recipe.BEST, d0): want, (Recipe.STANDARD, d0): want, (Recipe.STANDARD, 2 * d0): want}


def test_the_standard_steps_cost_is_its_grid_with_the_preset_seeds(tmp_path):
    """Smoke preset: lr 8e-3, 2 epochs, seeds 2; the law's size 2x32 at D0/2 .. 8 x D0 (1,024 .. 16,384 tokens),
    the other regularized sizes 1x32 and 2x64 at D0 = 2,048. estimated_cost = (12 L d^2 + 1024 d) x tokens x epochs
    (vocab 0 counts as 1024), each group's point twice (its seed and the preset's second)."""
    st = study("smoke", tmp_path, offset=0)
    p_2x32, p_1x32, p_2x64 = 12 * 2 * 32**2 + 1024 * 32, 12 * 1 * 32**2 + 1024 * 32, 12 * 2 * 64**2 + 1024 * 64
    law = p_2x32 * (1024 + 2048 + 4096 + 8192 + 16384)
    want = 2 * 2 * (law + (p_1x32 + p_2x64) * 2048)
    assert standard.cost(st, StudyState()) == want
    assert len(standard.plan(st, StudyState())) == 7  # one run per group before certification and seeds


def test_steps_write_under_their_own_names(tmp_path):
    """Each step's new runs live under OUT/runs/<its name>/; the ensemble step reuses the regularized runs as its
    first members and puts its students under runs/distill."""
    st = study("default", tmp_path)
    state = nominal_state(st)
    assert len({s.name for s in STEPS}) == len(STEPS)
    for step in STEPS:
        tops = {job.run_dir.relative_to(tmp_path / "runs").parts[0] for job in step.plan(st, state)}
        assert tops <= {step.name, "regularized", "distill"} and (not tops or step.name in tops or
                                                                    step.name == "ensemble"), (step.name, tops)


def test_the_nominal_state_is_the_grids_first_values(tmp_path):
    st = study("default", tmp_path)
    state = nominal_state(st)
    t = state.certified().train
    spec = st.spec
    assert (t.lr, t.weight_decay, t.epochs, t.seed) == (spec.lrs[0], spec.reg_wds[0], max(spec.reg_epochs), OFFSET)
    assert state.best_dir.name == f"lr0.004_wd3.2_ep16_s{OFFSET}"
    assert json.loads(json.dumps(config_mod.to_dict(state.best)))["recipe"] == "regularized"
