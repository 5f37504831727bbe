"""A generated fuzz of every flag of every command: seeded random command lines, run in this process against tiny
inputs this module makes (a 20-document corpus, a token store, a finished 1-layer run, a study folder, a task file).

The flags come from the parser itself (`squeeze.cli.parser()`: every sub-command's every option and positional,
--help aside), so a flag added tomorrow is fuzzed tomorrow. A case starts from a valid command line of its
command and replaces 0-3 of its flags (or adds them) with a drawn value: negative, zero, huge, NaN, infinite, of
the wrong type, empty, a path that is a file, a directory, missing or unwritable (under /proc, under a file, in a
read-only folder), non-ASCII or not UTF-8 at all, or a valid one; commands that take `--section.field=value` get a
random config field with a drawn value in one case of five. Every case must end in exit 0 or 2, with no
traceback, exactly one `squeeze: error:` line on stderr for exit 2, and no file written or changed outside the
output paths the command line asks for (its --out and the like, and the missing folders above one; `fit` without
--out writes into its first PATH).

Two kinds of case, so that it is both fast and honest about what it covers:
- check cases (N_CHECK, >= 1,000 a run): the command's work (`Command.run`) is replaced by a recorder, so a case
  runs for real everything before the work: parsing, the UTF-8 check, and the command's `check_*` (every flag's
  range, the paths, the combinations, the whole config and every sweep grid point built and checked, the token
  store opened, the output directories created and probed). Exit 0 must mean the recorder ran, exit 2 that it
  did not: a check case proves the values are refused before any work starts, not that accepted ones work.
- work cases (N_WORK a run): the commands whose work on these inputs takes well under a second (eval, sample,
  export, fit, prepare, prune --method random; and report, a few seconds, once in 100 cases, on a study folder of
  made-up runs) run for real, work included, on drawn values: these prove that what the checks accept does not
  crash the work. train, run, sweep, ensemble, distill and the other prune
  methods start training, which no fuzz case can afford; their work on accepted values is what tests/test_run.py,
  tests/test_sweep.py, tests/test_ensemble.py, tests/test_distill.py and tests/test_prune.py exercise.

The seed is fixed (so a CI run is repeatable) and printed; `SQUEEZE_FUZZ_SEED=N pytest tests/test_cli_fuzz.py` runs
another set of cases, or replays one.
"""
import dataclasses
import functools
import json
import os
import random
import shutil
import time
from pathlib import Path

import pytest

import squeeze.cli
from squeeze import config as config_mod
from squeeze.cli import COMMANDS, main
from squeeze.errors import SqueezeError
from squeeze.train.trainer import train
from tests.conftest import synthetic_documents, tiny_config
from tests.test_fits import D0, LARGE, law, row, study_rows, write_run

try:  # `squeeze import` reads a .gguf: a tiny real one where the gguf extra is installed (CI), else a plain file
    from tests.test_gguf import write_tiny_gguf
except pytest.skip.Exception:
    write_tiny_gguf = None

SEED = int(os.environ.get("SQUEEZE_FUZZ_SEED") or 896072798)  # fixed, so CI is repeatable; set it to explore
N_CHECK, N_WORK = 3000, 200
WORK = ("eval", "sample", "export", "fit", "prepare", "prune")  # and `report` once in 100 cases: ~3-6 s each
KEEP = {("prune", "--method")}  # work cases keep prune at --method random (the other methods embed or train)


class Sandbox:
    """The tiny inputs, in one folder that is also the working directory of every case."""

    def __init__(self, root: Path):
        self.root = root
        self.store, self.run, self.study = root / "store", root / "run", root / "study"
        self.corpus, self.file, self.task = root / "corpus.jsonl", root / "file.txt", root / "task.jsonl"
        self.gguf = root / "tiny.gguf"
        self.config, self.tokenizer, self.empty, self.ro = root / "config.json", root / "tok.json", root / "empty", \
            root / "ro"
        self.n = 0

    def new(self) -> str:
        """A fresh output path (not yet there)."""
        self.n += 1
        return str(self.root / "out" / f"o{self.n}")


@pytest.fixture(scope="module")
def sandbox(tiny_store, tmp_path_factory):
    s = Sandbox(tmp_path_factory.mktemp("fuzz") / "sb")
    shutil.copytree(tiny_store, s.store)
    cfg = tiny_config(s.store, epochs=1)
    cfg.model.n_layer = 1
    train(cfg, s.run, quiet=True)
    rows = study_rows() + [row("standard", D0, law(D0) + 0.02, LARGE, seed=1)]  # a second seed: noise to read
    for r in rows:
        write_run(s.study / "runs", r)
    s.corpus.write_text("".join(json.dumps({"text": d.text}) + "\n" for d in synthetic_documents(20)))
    s.file.write_text("a plain file\n")
    if write_tiny_gguf is not None:
        write_tiny_gguf(s.gguf, s.store / "tokenizer.json")
    else:
        shutil.copy(s.file, s.gguf)
    s.task.write_text(json.dumps({"context": "the king", "choices": [" and", " forest"], "label": 0}) + "\n")
    shutil.copy(s.run / "config.json", s.config)
    shutil.copy(s.store / "tokenizer.json", s.tokenizer)
    s.empty.mkdir()
    s.ro.mkdir()
    (s.root / "out").mkdir()
    s.ro.chmod(0o555)
    yield s
    s.ro.chmod(0o755)


def bad_values(s: Sandbox) -> dict[str, list[str]]:
    return {
        "negative": ["-1", "-3", "-0.5", "-1e9"],
        "zero": ["0", "0.0", "-0"],
        "huge": ["1e308", "1" + "0" * 30, "9" * 400, "1e400", str(2**63)],
        "nan": ["nan", "NaN", "-nan"],
        "inf": ["inf", "-inf", "1e999", "Infinity"],
        "wrong type": ["abc", "1.5", "1,2", "true", "0x10", "4x", " "],
        "empty": [""],
        "file": [str(s.file), str(s.corpus), str(s.config), str(s.run / "model.safetensors")],
        "directory": [str(s.empty), str(s.store), str(s.run), str(s.root)],
        "missing": [str(s.root / "missing"), "missing/deeper/x", str(s.file) + ".nope"],
        "unwritable": ["/proc/squeeze-fuzz", "/proc", str(s.file) + "/sub", str(s.ro), str(s.ro / "sub")],
        "unicode": ["héllo", "日本語/データ", "\u202eevil", "\udcff\udcfe", "é" * 200],
    }


def valid_values(s: Sandbox, command: str, action) -> list[str]:
    """Values this flag of this command accepts on the sandbox's inputs."""
    if action.choices:
        return [str(c) for c in action.choices]
    by_dest = {"out": [s.new()], "config": [str(s.config)], "tokenizer": [str(s.tokenizer)], "init": [str(s.run)],
               "run_dir": [str(s.run)], "run_dirs": [str(s.run)], "teachers": [str(s.run)], "single": [str(s.run)],
               "from_run": [str(s.run)], "file": [str(s.gguf)], "embedder": ["minilm", str(s.run)],
               "dir": [str(s.study)],
               "paths": [str(s.run), str(s.study / "runs")], "task": [str(s.task), "heldout"], "cache": [s.new()],
               "ref_dir": [s.new()], "ref_config": [str(s.config)], "prompt": ["the king", ""],
               "text_field": ["text"], "recipe": ["standard", "regularized", "best"], "preset": ["smoke"],
               "format": ["hf"], "ray_address": ["auto"], "log": ["tensorboard"], "lr": ["1e-3,2e-3"],
               "weight_decay": ["0.1"], "epochs": ["1", "2"], "sizes": ["1x32"], "budgets": ["4096"],
               "seeds": ["0,1"], "certify_axes": ["lr", "lr,epochs"],
               "data": [str(s.corpus)] if command in ("prepare", "run") else [str(s.store)]}
    if action.dest in by_dest:
        return by_dest[action.dest]
    return {int: ["1", "2", "3"], float: ["0.5", "0.1", "1"]}.get(action.type, ["x"])


def base_argv(s: Sandbox, command: str) -> list[str]:
    """A valid command line of each command, cheap enough to run for real where its work is cheap."""
    tiny = ["--model.n_layer=1", "--model.d_model=32", "--model.n_head=2", "--model.seq_len=32",
            "--train.batch_size=8", "--train.dtype=fp32", "--train.threads=1"]
    return {
        "prepare": ["--data", str(s.corpus), "--out", s.new(), "--vocab-size", "300"],
        "train": ["--data", str(s.store), "--out", s.new(), "--epochs", "1", *tiny],
        "eval": [str(s.run)], "sample": [str(s.run), "--tokens", "5"], "report": [str(s.study)],
        "run": ["--data", str(s.corpus), "--preset", "smoke", "--out", s.new()],
        "sweep": ["--data", str(s.store), "--out", s.new(), "--lr", "1e-3", *tiny],
        "fit": [str(s.run), "--out", s.new(), "--n-boot", "10"], "export": [str(s.run), "--out", s.new()],
        "import": [str(s.gguf), "--out", s.new()],
        "prune": ["--data", str(s.store), "--method", "random", "--keep", "0.5", "--out", s.new() + "/m.json"],
        "ensemble": ["--data", str(s.store), "--out", s.new(), "--members", "2", *tiny],
        "distill": ["--data", str(s.store), "--teachers", str(s.run), "--out", s.new(), *tiny],
    }[command]


# argparse builds a help formatter (and asks the terminal its size) for every flag it adds: ~25 ms a parser. The
# parser is the same for every case, so the cases share one (main() looks it up as squeeze.cli.parser).
parser = functools.cache(squeeze.cli.parser)


def actions(command: str) -> list:
    sub = parser()._subparsers._group_actions[0].choices[command]
    return [a for a in sub._actions if a.dest != "help"]


def config_fields() -> list[str]:
    cfg = config_mod.Config()
    return [f"{sec}.{f.name}" for sec in config_mod.SECTIONS for f in dataclasses.fields(getattr(cfg, sec))]


def draw_case(rng: random.Random, s: Sandbox, command: str, work: bool) -> list[str]:
    """A command line of `command`: its valid base line with 0-3 flags replaced or added by drawn values."""
    base, positional, opts = base_argv(s, command), [], {}
    while base and not base[0].startswith("--"):
        positional.append(base.pop(0))
    while base:
        flag = base.pop(0)
        opts[flag] = [] if "=" in flag else [base.pop(0)]
    acts = actions(command)
    pool = bad_values(s)
    candidates = [a for a in acts if not (work and (command, (a.option_strings or [""])[0]) in KEEP)]
    for a in rng.sample(candidates, min(len(candidates), rng.randint(0, 3))):
        kind = "valid" if rng.random() < 0.3 else rng.choice(list(pool))
        n = rng.randint(1, 2) if a.nargs in ("+", "*") else 1
        vals = [rng.choice(valid_values(s, command, a) if kind == "valid" else pool[kind]) for _ in range(n)]
        if not a.option_strings:
            positional = vals
        elif a.nargs == 0:
            opts.pop(a.option_strings[0], None) if a.option_strings[0] in opts else opts.update(
                {rng.choice(a.option_strings): []})
        else:
            opts[a.option_strings[0]] = vals
    if COMMANDS[command].overrides and rng.random() < 0.2:
        kind = rng.choice(["valid", *pool])
        value = rng.choice(["1", "0.5", "true", "adamw"] if kind == "valid" else pool[kind])
        opts[f"--{rng.choice(config_fields())}={value}"] = []
    argv = [command, *positional]
    for flag, vals in opts.items():
        if len(vals) == 1 and (vals[0].startswith("-") or rng.random() < 0.5):
            argv.append(f"{flag}={vals[0]}")
        else:
            argv += [flag, *vals]
    return argv


def snapshot(root: Path) -> dict:
    out = {}
    for d, dirs, files in os.walk(root):
        out[d] = "dir"
        for f in files:
            p = os.path.join(d, f)
            st = os.lstat(p)
            out[p] = (st.st_size, st.st_mtime_ns)
    return out


def outputs(s: Sandbox, argv: list[str]) -> list[str]:
    """The paths the command line asks to be written: absolute, as the command resolves them from the sandbox."""
    try:
        a, _ = parser().parse_known_args(argv)
    except SqueezeError:
        return []
    ask = [getattr(a, k, None) for k in ("out", "cache", "ref_dir")]
    if a.command == "prune" and isinstance(a.out, str):
        ask = [str(Path(a.out).parent), *ask[1:]]
    if a.command == "report":
        ask.append(a.dir)
    if a.command == "fit" and not a.out:
        ask.append(a.paths[0])
    return [os.path.abspath(os.path.join(s.root, p)) for p in ask if isinstance(p, str) and p]


def restore(s: Sandbox, pristine: Path, before: dict, after: dict) -> None:
    """Undo what a case wrote: new paths removed, changed or removed files copied back from the pristine copy."""
    for p in sorted((p for p in after if p not in before), key=len, reverse=True):
        shutil.rmtree(p) if after[p] == "dir" else os.unlink(p)
    for p, was in before.items():
        if was != "dir" and after.get(p) != was:
            shutil.copy2(pristine / os.path.relpath(p, s.root), p)


def run_case(s: Sandbox, pristine: Path, argv: list[str], capsys, where: str) -> int:
    before = snapshot(s.root)
    capsys.readouterr()
    try:
        code = main(argv)
    except BaseException as e:  # noqa: BLE001 - any escape is the failure this fuzz looks for
        pytest.fail(f"{where}: {type(e).__name__}: {e}")
    out, err = capsys.readouterr()
    after = snapshot(s.root)
    lines = err.strip().splitlines()
    assert code in (0, 2), f"{where}: exit {code}: {err[-2000:]}"
    assert "Traceback" not in err + out, f"{where}: {err[-2000:]}"
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("squeeze: error: "), f"{where}: {lines}"
    allowed = outputs(s, argv)
    touched = [p for p in set(before) | set(after) if before.get(p) != after.get(p)]
    stray = [p for p in touched if not any(p == o or p.startswith(o.rstrip("/") + "/") for o in allowed)
             and not (after.get(p) == "dir" and any(o.startswith(p + "/") for o in allowed))]  # its parents
    assert not stray, f"{where}: wrote outside {allowed}: {stray[:5]}"
    restore(s, pristine, before, after)
    return code


@pytest.fixture(scope="module")
def pristine(sandbox, tmp_path_factory):
    copy = tmp_path_factory.mktemp("fuzz-pristine") / "sb"
    shutil.copytree(sandbox.root, copy, ignore=shutil.ignore_patterns("ro"))
    return copy


def _replay(kind: str, i: int, argv: list[str]) -> str:
    return f"{kind} case {i} (replay: SQUEEZE_FUZZ_SEED={SEED} pytest tests/test_cli_fuzz.py) argv={argv!r}"


def test_check_cases(sandbox, pristine, capsys, monkeypatch):
    """N_CHECK random command lines through parsing and every command's checks, the work recorded, not run."""
    print(f"squeeze fuzz seed {SEED}")
    monkeypatch.chdir(sandbox.root)
    monkeypatch.setattr(squeeze.cli, "parser", parser)
    reached = []
    for name, c in list(COMMANDS.items()):
        monkeypatch.setitem(COMMANDS, name, c._replace(run=lambda a, name=name: reached.append(name)))
    rng, t0, codes = random.Random(SEED), time.perf_counter(), {0: 0, 2: 0}
    for i in range(N_CHECK):
        command = rng.choice(sorted(COMMANDS))
        argv = draw_case(rng, sandbox, command, work=False)
        reached.clear()
        code = run_case(sandbox, pristine, argv, capsys, _replay("check", i, argv))
        assert reached == ([command] if code == 0 else []), _replay("check", i, argv)
        codes[code] += 1
    with capsys.disabled():
        print(f"\ncli fuzz seed {SEED}: {N_CHECK} check cases, {codes[0]} accepted, {codes[2]} refused, "
              f"{time.perf_counter() - t0:.1f} s")
    assert codes[0] >= N_CHECK // 20 and codes[2] >= N_CHECK // 2  # the draws reach both ends


def test_work_cases(sandbox, pristine, capsys, monkeypatch):
    """N_WORK random command lines of the cheap commands, run to the end, work included."""
    monkeypatch.chdir(sandbox.root)
    monkeypatch.setattr(squeeze.cli, "parser", parser)
    rng, t0, ran = random.Random(SEED + 1), time.perf_counter(), {c: [] for c in (*WORK, "report")}
    for i in range(N_WORK):
        command = "report" if i % 100 == 99 else WORK[i % len(WORK)]
        argv = draw_case(rng, sandbox, command, work=True)
        ran[command].append(run_case(sandbox, pristine, argv, capsys, _replay("work", i, argv)) == 0)
    with capsys.disabled():
        print(f"\ncli fuzz seed {SEED}: {N_WORK} work cases in {time.perf_counter() - t0:.1f} s; ran to the end: "
              + ", ".join(f"{c} {sum(v)}/{len(v)}" for c, v in ran.items()))
    assert all(sum(v) for c, v in ran.items() if c != "report")  # every cheap command's work ran at least once
