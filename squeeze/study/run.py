"""`squeeze run`: the main job. Prepares the corpus once, runs the study of squeeze/study/plan.py step by step
(finished runs skipped, killed runs resumed), writes the report and prints the headline table.
Run it with `squeeze run --preset smoke --out /tmp/s`; exercised by tests/test_run.py.
"""
import os
import sys
from pathlib import Path

from squeeze import recipes
from squeeze.errors import SqueezeError
from squeeze.io import dir_lock, read_json


def ensure_store(data: str | None, out: Path, vocab_size: int, text_field: str = "text") -> Path:
    """A token store for `data`: used as is when it already is one, else prepared once into out/data."""
    from squeeze.data.corpus import iter_documents, load_documents
    from squeeze.data.store import prepare_store
    if data and (Path(data) / "meta.json").exists():
        return Path(data)
    store = out / "data"
    if (store / "meta.json").exists():
        meta = read_json(store / "meta.json")
        if (meta.get("source"), meta.get("vocab_size")) != (data or "builtin", vocab_size):
            raise SqueezeError(f"{store}: prepared from {meta.get('source')} with vocabulary {meta.get('vocab_size')}, "
                               f"not {data or 'builtin'} with {vocab_size}; use another --out")
        return store
    print(f"preparing {'the built-in corpus' if data is None else data} -> {store}", file=sys.stderr)
    if next(iter_documents(data, text_field=text_field), None) is None:
        load_documents(data, text_field=text_field)  # raises its "corpus is empty" error
    prepare_store(lambda: iter_documents(data, text_field=text_field), store, vocab_size=vocab_size,  # streamed
                  source=data or "builtin")
    return store


def run_study(data: str | None, preset_name: str, out: str | Path, text_field: str = "text",
              workers: int | None = None, executor: dict | None = None) -> dict:
    """Run every step of the preset's study into `out` (skipping what is finished), then write the report and
    print the headline table. Returns the summary (squeeze.study.report.summarize)."""
    from squeeze.study import plan, report
    out = Path(out)
    if preset_name not in recipes.PRESETS:
        raise SqueezeError(f"--preset {preset_name}: unknown preset (known: {', '.join(recipes.PRESETS)})")
    out.mkdir(parents=True, exist_ok=True)
    with dir_lock(out):  # a second `squeeze run` into the same directory is refused, not interleaved
        store = ensure_store(data, out, recipes.PRESETS[preset_name].vocab_size, text_field)
        workers = workers or max(1, min(2, os.cpu_count() or 1))  # 1-thread workers: best for small models on CPUs
        st = plan.Study(plan.STUDIES[preset_name], preset_name, store, out, workers, executor=executor)
        st.progress = plan.StudyProgress(plan.planned_costs(st))
        st.progress.next_step()
        lr_of = plan.standard_step(st)
        st.progress.next_step()
        best, best_dir = plan.regularized_step(st, lr_of.get(st.spec.main, lr_of[st.spec.std_sizes[-1]]))
        st.progress.next_step()
        plan.ensemble_step(st, best)
        st.progress.next_step()
        plan.options_step(st, best)
        st.progress.next_step()
        plan.selection_step(st, best, best_dir)
        summary = report.summarize(out)
        paths = report.write_report(out, summary)
    report.print_summary(summary)
    print(f"\nreport: {paths[0]} and {paths[1]}")
    return summary
