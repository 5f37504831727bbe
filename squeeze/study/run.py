"""`squeeze run`'s library form: prepare the corpus once, run the steps of squeeze/study/steps/ in order (finished
runs skipped, killed runs resumed), and write the report. squeeze/cli/study.py prints the headline table.
Run it with `squeeze run --preset smoke --out /tmp/s`; exercised by tests/test_run.py.
"""
import itertools
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from squeeze import presets
from squeeze.data.prepare import ensure_store, existing_store
from squeeze.errors import SqueezeError
from squeeze.io import dir_lock, make_dir, read_json, remove_stale_temporaries, stamp_now, write_json
from squeeze.presets import Preset
from squeeze.runs.execute import ExecutorConfig, keep_workers
from squeeze.runs.results import collect, write_csv
from squeeze.study import compute, cpt, report, report_output
from squeeze.study.progress import StudyProgress
from squeeze.study.steps import Study, StudyState, planned_costs, selection, steps_of


@dataclass(frozen=True)
class StudyResult:
    summary: dict  # squeeze.study.report.summarize: the headline table as data
    written: list[Path]  # report.md, report.html, summary.json and the plots


def run_study(data: str | None, preset_name: str, out: str | Path, text_field: str = "text",
              workers: int | None = None, executor: ExecutorConfig | None = None,
              seed_offset: int = 0, minutes: float | None = None, spent_seconds: float = 0.0,
              init: str | None = None) -> StudyResult:
    """Run every step of the preset's study into `out` (skipping what is finished), then write the report.
    `seed_offset` shifts every seed (init, data order, random subsets), so that studies with other offsets are
    independent replicates; a study directory keeps the offset it started with. `minutes` (None: the preset's;
    0: none) is the time budget: each step's certification walks stop once the step's share of it (by planned
    compute) has passed, and the report names what they left uncertified. The clock starts when this call begins,
    less `spent_seconds` already spent on this study by earlier calls (benchmarks/flagship.py resumes over many).
    `init` (a squeeze run directory, an HF Llama/Qwen3 folder or a .gguf file): continued pretraining, every run
    from that base, the corpus prepared with its tokenizer, the sizes fixed to its own (squeeze/study/cpt.py)."""
    out, preset = Path(out), presets.get(preset_name)
    if workers is not None and workers < 1:
        raise SqueezeError(f"--workers {workers}: must be >= 1")
    if seed_offset < 0:
        raise SqueezeError(f"--seed-offset {seed_offset}: must be >= 0")
    make_dir(out)
    with dir_lock(out):  # a second `squeeze run` into the same directory is refused, not interleaved
        base = check_out(out, data, preset_name, seed_offset, init)
        _sweep_temporaries(out / "runs")
        if base is not None:
            preset = cpt.fixed_preset(preset, base)
        store = ensure_store(data, out, preset.vocab_size, text_field, *((base.tokenizer_file,
                             base.tokenizer_fingerprint) if base else ()))
        workers = workers or max(1, min(2, os.cpu_count() or 1))  # 1-thread workers: best for small models on CPUs
        meta = read_json(store / "meta.json")
        check_corpus(preset, store, meta["train_tokens"], meta["val_tokens"])
        base = cpt.fitted(base, meta["vocab_size"]) if base else None
        st = Study(preset, store, out, workers, executor=executor or ExecutorConfig(), seed_offset=seed_offset,
                   start=base)
        spec = st.spec
        write_json(out / report.STUDY_FILE, {"preset": preset_name, "d0": spec.d0, "seeds": spec.seeds,
                                             "seed_offset": seed_offset, "standard_budgets": list(spec.std_budgets),
                                             "selection_rule": selection.rule(spec).as_dict(),
                                             **({"selection_skipped": why} if (why := selection.skipped(st)) else {}),
                                             **({"base": base.record()} if base else {})})
        costs = planned_costs(st)
        steps = steps_of(st)
        began, started = time.monotonic(), stamp_now()

        def record() -> None:  # this invocation's wall time so far, for the study's MFU: a kill loses one run's
            compute.record_time(out, started, time.monotonic() - began, workers, before=spent_seconds)
        progress = StudyProgress(costs, tuple(step.title for step in steps), on_run=record)
        state = StudyState()
        minutes = spec.minutes if minutes is None else minutes
        deadlines = step_deadlines(began - spent_seconds, minutes, costs)
        with keep_workers():  # one set of worker processes for every step's rounds
            for step, stop_at in zip(steps, deadlines):
                progress.next_step()
                step.run(replace(st, progress=progress, stop_at=stop_at), state)
                record()
        _rewrite_results(out / "runs")
        record()
        summary = report.summarize(out)
        written = report_output.write_report(out, summary)
    return StudyResult(summary, written)


def check_corpus(preset: Preset, store: Path, train_tokens: int, val_tokens: int) -> None:
    """Refuse a corpus too small for the preset before anything trains: the standard law's largest budget is
    std_top x D0 unique training tokens, and the evaluations need one batch of windows of held-out tokens. Says
    what to do."""
    spec, min_val_tokens = preset.study, preset.seq_len * preset.batch_size
    need = max(spec.std_budgets)
    if train_tokens < need or val_tokens < min_val_tokens:
        smoke = presets.PRESETS["smoke"].study
        smaller = "" if preset.name == "smoke" else (f", or a smaller preset (--preset smoke needs "
                                                      f"{max(smoke.std_budgets):,} training tokens)")
        raise SqueezeError(
            f"{store}: {train_tokens:,} training and {val_tokens:,} validation tokens, but the {preset.name} study "
            f"needs at least {need:,} training tokens ({spec.std_top} x D0 = {spec.d0:,}, the standard recipe's "
            f"largest budget) and {min_val_tokens:,} validation tokens; give it a larger corpus{smaller}")


def _sweep_temporaries(runs: Path) -> None:
    """The temporary files a killed study left where no later command takes a lock (an ensemble's folder, the
    masks, a finished run's snapshot_ensemble.json: benchmarks/kill_trials.py found them), removed under the
    study's lock before any of its runs starts; a folder with a `.lock` is left to whoever takes it."""
    for d in [runs, *runs.rglob("*")] if runs.is_dir() else []:
        if d.is_dir() and not (d / ".lock").exists():
            remove_stale_temporaries(d)


def _rewrite_results(runs: Path) -> None:
    """Each step's results.csv rebuilt from its run directories once every step has run: the headline step adds
    seeds under the sweeps of earlier steps after those wrote theirs, and a re-run of a killed study rebuilds them
    with those seeds (benchmarks/kill_trials.py found the two disagreeing)."""
    for path in sorted(runs.glob("*/results.csv")):
        write_csv(collect(path.parent), path)


def step_deadlines(began: float, minutes: float, costs: tuple[float, ...]) -> list[float | None]:
    """Each step's certification deadline on the time.monotonic() clock: the study began at `began`, and step i
    may run until its cumulative share of `minutes` (by planned compute `costs`) has passed; None without a budget."""
    return [began + 60 * minutes * done / sum(costs) if minutes else None for done in itertools.accumulate(costs)]


def check_out(out: Path, data: str | None, preset_name: str, seed_offset: int,
              init: str | None = None) -> cpt.StudyBase | None:
    """Refuse, reading only, an `out` that holds another study: another preset, seed offset or base in its
    study.json, or a token store from another corpus, vocabulary or tokenizer (a replicate or another study in the
    same directory would mix two studies in one table). `squeeze run` calls it before anything is written, so a
    refused command changes nothing in `out` (but a .gguf base's import into OUT/base/); run_study calls it again
    under the directory's lock. Returns the base (None without --init)."""
    preset = presets.get(preset_name)
    base = cpt.open_base(init, Path(out)) if init else None
    if base is not None:
        preset = cpt.fixed_preset(preset, base)  # refuses a preset that contradicts the base
    study_file = Path(out) / report.STUDY_FILE
    if study_file.exists():
        before = read_json(study_file)
        had = before.get("base")
        if (had or {}).get("sha256") != (base.weights_sha256 if base else None):
            raise SqueezeError(f"{study_file}: this study ran " + (f"from the base {had['path']} (sha256 "
                               f"{had['sha256'][:12]}...)" if had else "from random weights (no --init)")
                               + (f", not from {init}" if init else ", not without --init") + "; use another --out")
        if before.get("preset", preset_name) != preset_name:
            raise SqueezeError(f"{study_file}: this study ran with --preset {before['preset']}, not {preset_name}; "
                               "use another --out")
        if before.get("seed_offset", 0) != seed_offset:
            raise SqueezeError(f"{study_file}: this study ran with --seed-offset {before.get('seed_offset', 0)}, "
                               f"not {seed_offset}; use another --out for a replicate")
    existing_store(data, Path(out), preset.vocab_size, base.tokenizer_fingerprint if base else "")
    return base
