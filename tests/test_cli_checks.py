"""The command line's own bad values and the one line each gets: the rows of the README's "The command line" table.

Each case builds its input under tmp_path, runs `squeeze.cli.main(argv)` in this process, and checks exit code 2,
one stderr line `squeeze: error: ...` containing the case's fragment, and that no file under tmp_path was written
or changed (a refused command may have made its empty output directory, nothing more). `test_readme_table_matches`
checks that the README lists exactly these cases. Also here: the last-resort handler of squeeze/cli/__main__.py and
the executor flags that `run` and `sweep` share. tests/test_cli_fuzz.py draws values for every flag at random.
"""
import json
from pathlib import Path

import pytest

from squeeze.cli import COMMANDS, Command, main, parser
from squeeze.cli.__main__ import BUG, entry
from tests.conftest import synthetic_documents
from tests.test_bad_input import readme_rows

TINY = ["--model.n_layer=1", "--model.d_model=32", "--model.n_head=2", "--model.seq_len=32",
        "--train.batch_size=8", "--train.dtype=fp32", "--train.threads=1", "--quiet"]


def _file(ctx, name: str = "FILE", text: str = "x") -> str:
    (ctx["tmp"] / name).write_text(text)
    return str(ctx["tmp"] / name)


def _study(ctx, preset: str = "smoke", seed_offset: int = 0) -> str:
    """A study directory as `squeeze run` leaves it, as far as the checks read it: study.json and runs/."""
    out = ctx["tmp"] / "study"
    (out / "runs").mkdir(parents=True)
    (out / "study.json").write_text(json.dumps({"preset": preset, "seed_offset": seed_offset}))
    return str(out)


def _sweep(ctx, *flags) -> list[str]:
    return ["sweep", "--data", ctx["store"], "--out", str(ctx["tmp"] / "w"), *flags]


# (id, command, bad value, argv builder ctx -> argv, fragment of the error line): the README table's rows
CASES = [
    ("unknown_flag", "any", "unknown flag", lambda c: ["prepare", "--out", "S", "--bogus"],
     "unrecognized arguments: --bogus"),
    ("unknown_command", "any", "unknown command", lambda c: ["trian"], "argument command: invalid choice: 'trian'"),
    ("missing_out", "train", "required flag left out", lambda c: ["train", "--data", c["store"]],
     "the following arguments are required: --out"),
    ("flag_type", "train", "flag of the wrong type (`--epochs two`)",
     lambda c: ["train", "--out", "R", "--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
    ("override_field", "train", "override of an unknown field",
     lambda c: ["train", "--out", "R", "--train.wieght_decay=1.6"], "train.wieght_decay: unknown field"),
    ("override_no_value", "train", "override without a value (`--train.lr` last)",
     lambda c: ["train", "--out", "R", "--train.lr"], "override '--train.lr': expected --section.field=value"),
    ("override_bool", "train", "bad boolean (`--model.qk_norm=maybe`)",
     lambda c: ["train", "--out", "R", "--model.qk_norm=maybe"], "model.qk_norm: expected true/false, got 'maybe'"),
    ("override_choice", "train", "bad choice (`--train.optimizer=sgd`)",
     lambda c: ["train", "--out", "R", "--train.optimizer=sgd"], "train.optimizer: 'sgd' is not one of adamw, muon"),
    ("override_nan", "train", "`--train.lr=nan` / `inf`",
     lambda c: ["train", "--out", "R", "--train.lr=nan"], "train.lr: expected a finite number, got nan"),
    ("override_range", "train", "`--model.n_layer=0`",
     lambda c: ["train", "--out", "R", "--model.n_layer=0"], "model.n_layer must be >= 1"),
    ("override_n_head", "train", "`--model.n_head=0`", lambda c: ["train", "--out", "R", "--model.n_head=0"],
     "model.n_head must be >= 1"),
    ("override_seed", "train", "`--train.seed=-1` (numpy takes no negative seed)",
     lambda c: ["train", "--out", "R", "--train.seed=-1"], "train.seed=-1 must be >= 0"),
    ("override_huge", "train", "an integer past 64 bits (`--train.lr_cycles=9...9`)",
     lambda c: ["train", "--out", "R", "--train.lr_cycles=" + "9" * 40], "is out of the 64-bit integer range"),
    ("override_elsewhere", "eval", "config override", lambda c: ["eval", "R", "--train.lr=1"],
     "config overrides (--train.lr=1) apply to `squeeze train`"),
    ("epochs_zero", "train", "`--epochs 0`", lambda c: ["train", "--out", "R", "--epochs", "0"],
     "--epochs 0: must be in [1, 1000000]"),
    ("unknown_recipe", "train", "unknown recipe", lambda c: ["train", "--out", "R", "--recipe", "magic"],
     "--recipe magic: unknown recipe"),
    ("resume_force", "train", "`--resume --force`", lambda c: ["train", "--out", "R", "--resume", "--force"],
     "--resume and --force: give one"),
    ("config_and_recipe", "train", "`--config` and `--recipe`",
     lambda c: ["train", "--out", "R", "--config", _file(c, "c.json", "{}"), "--recipe", "best"],
     "--config and --recipe: give one"),
    ("data_missing", "train", "`--data` that does not exist", lambda c: ["train", "--out", "R", "--data", "NOPE"],
     "--data NOPE: no such directory"),
    ("nothing_to_resume", "train", "`--resume` of a run that never saved a checkpoint",
     lambda c: ["train", "--data", c["store"], "--out", str(c["tmp"] / "r"), "--resume", *TINY],
     "nothing to resume (no state.pt)"),
    ("run_out_file", "run", "`--out FILE`, an existing file", lambda c: ["run", "--out", _file(c)],
     "FILE: a file, not a directory"),
    ("run_out_proc", "run", "`--out /proc/zz`, a directory that cannot be created",
     lambda c: ["run", "--out", "/proc/zz"], "/proc/zz: cannot create the directory (No such file or directory)"),
    ("out_below_file", "prepare", "`--out FILE/sub`", lambda c: ["prepare", "--out", _file(c) + "/sub"],
     "FILE/sub: cannot create the directory"),
    ("out_empty", "prepare", "`--out ''`", lambda c: ["prepare", "--out", ""], "--out: empty value"),
    ("out_too_long", "export", "`--out` with a 300-byte name",
     lambda c: ["export", str(c["run"]), "--out", "x" * 300], "cannot be read (File name too long)"),
    ("time_budget", "run", "`--time-budget -3`", lambda c: ["run", "--time-budget", "-3"],
     "--time-budget -3.0: must be >= 0"),
    ("time_budget_nan", "run", "`--time-budget nan` / `inf`", lambda c: ["run", "--time-budget", "nan"],
     "--time-budget nan: must be a finite number"),
    ("run_workers", "run", "`--workers 0`", lambda c: ["run", "--workers", "0"], "--workers 0: must be in [1, 1024]"),
    ("seed_offset", "run", "`--seed-offset -5`", lambda c: ["run", "--seed-offset", "-5"],
     "--seed-offset -5: must be in [0, 4294967195]"),
    ("batch_runs", "run", "`--batch-runs -1`", lambda c: ["run", "--batch-runs", "-1"],
     "--batch-runs -1: must be in [1, 256]"),
    ("ray_address_local", "run", "`--ray-address` without `--executor ray`",
     lambda c: ["run", "--ray-address", "10.0.0.1:6379"], "--ray-address 10.0.0.1:6379: applies to --executor ray"),
    ("unknown_preset", "run", "unknown preset", lambda c: ["run", "--preset", "huge"],
     "--preset huge: unknown preset (known: smoke, default, flagship, gpu)"),
    ("other_preset", "run", "`--out` holding a study of another preset",
     lambda c: ["run", "--out", _study(c), "--preset", "default"],
     "this study ran with --preset smoke, not default; use another --out"),
    ("other_offset", "run", "`--out` holding a study of another seed offset",
     lambda c: ["run", "--out", _study(c), "--preset", "smoke", "--seed-offset", "3"],
     "this study ran with --seed-offset 0, not 3"),
    ("report_not_study", "report", "a folder without runs/", lambda c: ["report", str(c["tmp"])],
     "not a study directory (no runs/ folder"),
    ("sweep_list", "sweep", "`--lr 1e-3,abc`", lambda c: _sweep(c, "--lr", "1e-3,abc"),
     "--lr '1e-3,abc': 'abc' is not a number"),
    ("sweep_nan", "sweep", "`--lr 1e-3,nan`", lambda c: _sweep(c, "--lr", "1e-3,nan"),
     "--lr '1e-3,nan': 'nan' is not a finite number"),
    ("sweep_sizes", "sweep", "`--sizes 4by128`", lambda c: _sweep(c, "--sizes", "4by128"),
     "--sizes '4by128': '4by128' is not LAYERSxWIDTH like 4x128"),
    ("sweep_workers", "sweep", "`--workers 0`", lambda c: _sweep(c, "--workers", "0"),
     "--workers 0: must be in [1, 1024]"),
    ("sweep_max_runs", "sweep", "a grid larger than `--max-runs`",
     lambda c: _sweep(c, "--lr", "1e-3,2e-3,4e-3", "--max-runs", "2"), "the grid has 3 runs, over --max-runs 2"),
    ("sweep_data_file", "sweep", "`--data FILE`", lambda c: ["sweep", "--data", _file(c), "--out", "W"],
     "FILE: not a directory"),
    ("tokenizer_dir", "prepare", "`--tokenizer DIR`",
     lambda c: ["prepare", "--out", "S", "--tokenizer", str(c["tmp"])], "a directory, not a file"),
    ("eval_missing", "eval", "a run directory that does not exist", lambda c: ["eval", "NORUN"],
     "RUN_DIR NORUN: no such directory"),
    ("task_missing", "eval", "`--task` file that does not exist",
     lambda c: ["eval", str(c["run"]), "--task", "none.jsonl"], "--task none.jsonl: no such file"),
    ("task_binary", "eval", "`--task` file that is not text",
     lambda c: ["eval", str(c["run"]), "--task", str(c["run"] / "model.safetensors")],
     "model.safetensors: not a task file (invalid UTF-8 at byte"),
    ("top_k_alone", "eval", "`--top-k 2` without `--snapshots`", lambda c: ["eval", str(c["run"]), "--top-k", "2"],
     "--top-k applies to --snapshots"),
    ("sample_tokens", "sample", "`--tokens 0`", lambda c: ["sample", str(c["run"]), "--tokens", "0"],
     "--tokens 0: must be in [1, 1000000]"),
    ("sample_temperature", "sample", "`--temperature inf`",
     lambda c: ["sample", str(c["run"]), "--temperature", "inf"], "--temperature inf: must be a finite number"),
    ("not_utf8", "sample", "bytes that are not UTF-8 (`--prompt $'\\xff'`)",
     lambda c: ["sample", str(c["run"]), "--prompt", "\udcff"], "--prompt '\\udcff': not valid UTF-8 text"),
    ("fit_n_boot", "fit", "`--n-boot 0`", lambda c: ["fit", str(c["run"]), "--n-boot", "0"],
     "--n-boot 0: must be in [1, 100000]"),
    ("fit_budget", "fit", "`--base-budget -1`", lambda c: ["fit", str(c["run"]), "--base-budget", "-1"],
     "--base-budget -1.0: must be > 0.0"),
    ("export_format", "export", "`--format onnx`",
     lambda c: ["export", str(c["run"]), "--format", "onnx", "--out", "X"], "--format onnx: unknown format"),
    ("prune_keep", "prune", "`--keep 0`",
     lambda c: ["prune", "--data", c["store"], "--method", "random", "--keep", "0", "--out", "m.json"],
     "--keep 0.0: must be in (0.0, 1.0]"),
    ("prune_eps", "prune", "`--eps` with `--method random`",
     lambda c: ["prune", "--data", c["store"], "--method", "random", "--keep", "0.5", "--eps", "0.1", "--out",
                "m.json"], "--eps applies to --method semdedup and d4, not random"),
    ("prune_out_dir", "prune", "`--out DIR` (the mask is a file)",
     lambda c: ["prune", "--data", c["store"], "--method", "random", "--keep", "0.5", "--out", str(c["tmp"])],
     "a directory, not a file"),
    ("members_zero", "ensemble", "`--members 0`", lambda c: ["ensemble", "--out", "E", "--members", "0"],
     "--members 0: must be in [1, 1024]"),
    ("chain_single", "distill", "`--chain 2 --single RUN`",
     lambda c: ["distill", "--out", "D", "--chain", "2", "--single", str(c["run"])],
     "--single applies to one student, not to --chain"),
]


def _files(root: Path) -> dict:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_value(case, tiny_store, tiny_run, tmp_path, capsys, monkeypatch):
    name, _, _, build, fragment = case
    monkeypatch.chdir(tmp_path)
    argv = build({"tmp": tmp_path, "store": str(tiny_store), "run": tiny_run})
    before, run_before = _files(tmp_path), _files(tiny_run)
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(err) == 1 and err[0].startswith("squeeze: error: "), err
    assert fragment in err[0], err[0]
    assert _files(tmp_path) == before and _files(tiny_run) == run_before  # nothing written


def test_readme_table_matches():
    """Every case is a README row (command, bad value, message fragment) and every row is a case."""
    assert readme_rows("### The command line") == [(command, what, fragment) for _, command, what, _, fragment in CASES]


def _crash(args):
    raise RuntimeError("boom\nsecond line")


def test_the_last_resort_handler_prints_one_line_and_exits_1(monkeypatch, capsys):
    monkeypatch.setitem(COMMANDS, "eval", Command(lambda a, o: None, _crash, False))
    assert entry(["eval", "R"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"squeeze: internal error: RuntimeError: boom second line ({BUG}; SQUEEZE_DEBUG=1 shows the "
                   "traceback)"]
    monkeypatch.setenv("SQUEEZE_DEBUG", "1")
    assert entry(["eval", "R"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "Traceback (most recent call last):" and "_crash" in "".join(err) and BUG in err[-1]


def test_bad_input_never_reaches_the_last_resort_handler(capsys):
    assert entry(["run", "--time-budget", "-3"]) == 2
    assert capsys.readouterr().err.startswith("squeeze: error: --time-budget")


def test_run_and_sweep_share_one_definition_of_the_executor_flags():
    subs = parser()._subparsers._group_actions[0].choices
    flags = ("--executor", "--ray-address", "--runs-per-gpu", "--batch-runs")
    defined = {name: {f: (a.help, a.default, a.type, a.choices) for a in subs[name]._actions
                      for f in a.option_strings if f in flags} for name in ("run", "sweep")}
    assert set(defined["run"]) == set(flags) and defined["run"] == defined["sweep"]


def test_a_valid_command_line_gets_past_the_checks(tiny_store, tiny_run, tmp_path, capsys):
    """The checks refuse the bad values, not the good ones: a small prepare and an eval run to the end."""
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": d.text}) + "\n" for d in synthetic_documents(20)))
    assert main(["prepare", "--data", str(corpus), "--out", str(tmp_path / "s"), "--vocab-size", "300"]) == 0
    assert main(["eval", str(tiny_run), "--json"]) == 0
    assert "loss" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])
