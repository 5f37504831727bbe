"""`squeeze run`: the main job. Prepares the corpus once, then trains the preset's runs, skipping finished ones
and resuming killed ones, and prints the results table.

Today the plan is one run: the regularized recipe at the preset's budget D0. The measurement, ensemble,
architecture and data-selection steps of the full study plug in here as they land.
Run it with `squeeze run --preset smoke --out /tmp/s`; exercised by tests/test_run.py.
"""
import sys
from pathlib import Path

from squeeze import recipes
from squeeze.errors import SqueezeError
from squeeze.io import dir_lock, read_json
from squeeze.study.execute import Job, run_jobs


def ensure_store(data: str | None, out: Path, vocab_size: int, text_field: str = "text") -> Path:
    """A token store for `data`: used as is when it already is one, else prepared once into out/data."""
    from squeeze.data.corpus import load_documents
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
    prepare_store(load_documents(data, text_field=text_field), store, vocab_size=vocab_size,
                  source=data or "builtin")
    return store


def run_study(data: str | None, preset_name: str, out: str | Path, text_field: str = "text") -> dict[str, dict]:
    out = Path(out)
    if preset_name not in recipes.PRESETS:
        raise SqueezeError(f"--preset {preset_name}: unknown preset (known: {', '.join(recipes.PRESETS)})")
    out.mkdir(parents=True, exist_ok=True)
    with dir_lock(out):  # a second `squeeze run` into the same directory is refused, not interleaved
        store = ensure_store(data, out, recipes.PRESETS[preset_name].vocab_size, text_field)
        cfg = recipes.preset(preset_name, "regularized")
        cfg.data.path = str(store)
        plan = {"regularized": Job(cfg, out / "runs" / "regularized")}
        results = dict(zip(plan, run_jobs(list(plan.values()), workers=1, quiet=False)))
    print(f"\n{'method':<14} {'val loss':>9} {'bits/byte':>10} {'params':>10} {'tokens seen':>12}")
    for name, s in results.items():
        if s.get("diverged"):
            print(f"{name:<14} diverged: {s['message']}")
            continue
        print(f"{name:<14} {s['val_loss']:>9.4f} {s['val_bpb']:>10.4f} {s['params']:>10,} {s['tokens_seen']:>12,}")
    return results
