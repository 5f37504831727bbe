"""squeeze/runs/results.py: seeds are grouped by a hash of the config, and paths a config recorded are found again
from the run directory (a study run with a relative --out, reported from another working directory)."""
from pathlib import Path

from squeeze.config import Config
from squeeze.runs.results import config_key, locate, under_runs


def test_seeds_share_a_key_and_other_knobs_do_not():
    a, b = Config(), Config()
    b.train.seed, b.data.seed, b.train.threads = 3, 3, 7  # seeds and threads do not change the configuration
    assert config_key(a) == config_key(b)
    b.train.lr *= 2
    assert config_key(a) != config_key(b)


def test_a_relative_mask_path_is_found_from_the_run_directory(tmp_path, monkeypatch):
    out = tmp_path / "study"
    mask = out / "runs" / "selection" / "masks" / "random_s0.json"
    run = out / "runs" / "selection" / "random" / "s0"
    mask.parent.mkdir(parents=True)
    run.mkdir(parents=True)
    mask.write_text("{}")
    monkeypatch.chdir(tmp_path / "study" / "runs")  # not where the study was started
    recorded = "squeeze-out/runs/selection/masks/random_s0.json"
    assert locate(recorded, run) == str(mask.resolve())
    assert locate("elsewhere/mask.json", run) == "elsewhere/mask.json"  # no runs/ part: kept as given


def test_under_runs_joins_the_part_after_the_last_runs_folder():
    assert under_runs("/old/runs/a/runs/b/s0", Path("/new/runs")) == Path("/new/runs/b/s0")
    assert under_runs("x/runs/ens/m1", Path("r")) == Path("r/ens/m1")
    assert under_runs("x/members/m1", Path("r")) is None
