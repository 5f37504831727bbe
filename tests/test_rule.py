"""squeeze/prune/rule.py: easy or hard by the recorded rule, and the study's selection step and `squeeze prune`
following it (a changed rule changes what they keep)."""
import pytest

from squeeze import config as config_mod
from squeeze.presets import PRESETS
from squeeze.prune import keep_rule, rule
from squeeze.prune.rule import keep_direction
from squeeze.study.steps import Study, nominal_state, selection

MEASURED = {"measured": True, "source": "a test table", "default": "easy", "reason": "-",
            "pools": [{"pool": 25_000, "keep": "easy", "diff": -0.08, "interval": [-0.12, -0.04]},
                      {"pool": 100_000, "keep": "either", "diff": 0.01, "interval": [-0.02, 0.04]},
                      {"pool": 400_000, "keep": "hard", "diff": 0.06, "interval": [0.02, 0.1]}]}
HARD_EVERYWHERE = {"measured": False, "source": "a test", "default": "hard", "reason": "because", "pools": []}


def test_the_committed_rule_without_measurements_is_its_default_with_its_reason():
    r = keep_direction(20_000, {"measured": False, "source": "paper", "default": "easy", "reason": "scarce",
                                "pools": []})
    assert (r.hard, r.keep, r.measured, r.reason) == (False, "easy", False, "scarce")
    committed = keep_direction(20_000)  # whatever squeeze/prune/keep_rule.py holds now
    assert committed.measured == keep_rule.RULE["measured"] and committed.source == keep_rule.RULE["source"]


def test_a_measured_rule_takes_the_nearest_pool_in_log_size():
    small = keep_direction(20_000, MEASURED)
    assert small.keep == "easy" and "25,000" in small.reason and "-0.0800" in small.reason
    middle = keep_direction(150_000, MEASURED)  # nearer 100k than 400k in log: within noise, the point estimate
    assert middle.keep == "hard" and "within noise" in middle.reason
    one_seed = {**MEASURED, "pools": [{"pool": 25_000, "keep": "either", "diff": -0.01, "interval": None}]}
    assert keep_direction(25_000, one_seed).keep == "easy"
    assert "no interval (a one-seed cell)" in keep_direction(25_000, one_seed).reason
    big = keep_direction(2_000_000, MEASURED)
    assert big.keep == "hard" and "outside the measured pools (25,000-400,000 tokens)" in big.reason
    assert big.as_dict() == {"keep": "hard", "pool_tokens": 2_000_000, "measured": True, "source": "a test table",
                             "reason": big.reason}


@pytest.mark.parametrize("table, want", [(HARD_EVERYWHERE, "hard"), (MEASURED, "easy")])
def test_the_study_direction_follows_the_recorded_rule(table, want, tmp_path, monkeypatch):
    """The default study's pool is 2 x 10k tokens: MEASURED says easy there (its 25k pool), HARD_EVERYWHERE hard.
    The prototypes row, its runs and its mask are named by it, and its mask is made with that direction."""
    monkeypatch.setattr(rule, "RULE", table)
    st = Study(PRESETS["default"], tmp_path / "data", tmp_path, workers=2)
    assert selection.rule(st.spec).keep == want
    state = nominal_state(st)
    jobs = selection.plan(st, state)
    protos = [j for j in jobs if "prototypes" in j.cfg.recipe]
    assert {j.cfg.recipe for j in protos} == {f"select-prototypes-{want}"}
    assert all(j.run_dir.parent.name == f"prototypes-{want}" for j in protos)
    assert all(j.cfg.data.keep_mask.endswith(f"prototypes-{want}.json") for j in protos)
    asked = []
    monkeypatch.setattr(selection, "prune_documents", lambda options, say: asked.append(options))
    monkeypatch.setattr(Study, "run", lambda self, jobs: [])
    (tmp_path / "embedder").mkdir()
    config_mod.save(state.certified(), str(tmp_path / "embedder" / "config.json"))
    selection._masks(st, tmp_path / "embedder")
    assert [o.hard for o in asked if o.method == "prototypes"] == [want == "hard"]
