"""The `squeeze` command: one sub-command per step, thin over the modules.

  squeeze prepare [--data PATH] --out DIR        text -> token store (built-in corpus by default)
  squeeze train [--recipe NAME] --data DIR --out RUN_DIR [--section.field=value ...]
  squeeze eval RUN_DIR [--json] [--weights W]     validation loss (nats/token) and bits per byte
  squeeze eval RUN_DIR RUN_DIR ... [--json]      an ensemble: mixture, product, learned weights, K curve
  squeeze ensemble --data DIR --out ROOT --members K [--recipe NAME | --from RUN_DIR]   train K members
  squeeze distill --data DIR --teachers RUN_DIR... --out RUN_DIR | --chain K      a distilled student / a chain
  squeeze eval RUN_DIR --task PATH.jsonl|heldout zero-shot multiple-choice accuracy
  squeeze sample RUN_DIR --prompt TEXT           generated text
  squeeze run [--data PATH] [--preset NAME] [--out DIR]   the main job
  squeeze sweep --data DIR --out ROOT [--lr a,b] [--weight-decay a,b] [--epochs a,b] [--certify]
  squeeze fit PATH [PATH ...] [--out DIR]        scaling-law fits, multipliers, plots
  squeeze report DIR                             report.md / report.html of a `squeeze run` directory
  squeeze export RUN_DIR --format hf --out DIR   a folder transformers loads (Llama / Qwen3)
  squeeze prune --data DIR --method M --keep F --out MASK   data selection -> a keep-mask for train/sweep

Bad input prints `squeeze: error: <one line>` and exits 2. Exercised by tests/test_cli.py.
"""
import argparse
import json
import os
import sys
from pathlib import Path

from squeeze import config as config_mod
from squeeze import recipes
from squeeze.errors import SqueezeError
from squeeze.io import DISK_ERRNOS, disk_error
from squeeze.prune.cli import add_prune_parser, cmd_prune
from squeeze.study.fits import add_fit_parser, cmd_fit
from squeeze.study.members import add_parsers as add_member_parsers, cmd_distill, cmd_ensemble
from squeeze.study.sweep import add_sweep_parser, cmd_sweep

CONFIG_SECTIONS = tuple(f"--{s}." for s in config_mod.SECTIONS)


class _Parser(argparse.ArgumentParser):
    """argparse's errors as one-line SqueezeErrors (its default prints the usage too); sub-parsers inherit it."""

    def error(self, message: str):
        raise SqueezeError(f"{message} (see `{self.prog} --help`)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="squeeze", description="Train the best LM a fixed text budget allows.")
    sub = p.add_subparsers(dest="command", required=True)

    q = sub.add_parser("prepare", help="text -> token store")
    q.add_argument("--data", default=None, help="a .txt file, a folder of .txt files, a .jsonl or .parquet file, "
                                                 "or a `datasets` save_to_disk folder; "
                                                 "default: the built-in Shakespeare + King James Bible corpus")
    q.add_argument("--out", required=True, help="token store directory to create")
    q.add_argument("--vocab-size", type=int, default=8192, help="BPE vocabulary to train (default 8192)")
    q.add_argument("--tokenizer", default=None, help="use this tokenizer.json instead of training one")
    q.add_argument("--text-field", default="text", help=".jsonl field, or .parquet / datasets column, holding the "
                                                        "text (default: text)")
    q.add_argument("--val-fraction", type=float, default=0.05, help="share of documents held out (default 0.05)")
    q.add_argument("--budget-tokens", type=int, default=None, help="store only this many training tokens")
    q.add_argument("--seed", type=int, default=0, help="seed of the split and of the document order")
    q.add_argument("--force", action="store_true", help="overwrite an existing token store")
    q.add_argument("--tokenizer-sample-chars", type=int, default=None, help="train the tokenizer on a seeded sample "
                   "of about this many characters of training text (default 1e9: all of a corpus below ~1 GB)")

    t = sub.add_parser("train", help="train one model into a run directory",
                       epilog="config fields (--section.field=value):\n" + config_mod.describe_fields(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--recipe", default=None, help=f"one of: {', '.join(recipes.RECIPES)} (default: standard)")
    t.add_argument("--config", default=None, help="start from this config.json instead of a recipe")
    t.add_argument("--data", default=None, help="token store directory")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("--epochs", type=int, default=None, help="shorthand for --train.epochs")
    t.add_argument("--resume", action="store_true", help="continue a killed run from its last checkpoint")
    t.add_argument("--force", action="store_true", help="overwrite an existing run")
    t.add_argument("--quiet", action="store_true", help="no progress bar or start-up lines")
    t.add_argument("--init", default=None, help="shorthand for --train.init: start from a squeeze run directory or "
                                                "a local Hugging Face Llama/Qwen3 folder")
    t.add_argument("--log", default=None, help="shorthand for --train.log: tensorboard or wandb")

    e = sub.add_parser("eval", help="validation loss and bits per byte of a run (several runs: their ensemble)")
    e.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    e.add_argument("--orders", type=int, default=5, help="random member orders averaged in the K curve")
    e.add_argument("--data", default=None, help="token store (default: the run's own)")
    e.add_argument("--json", action="store_true", help="print JSON")
    e.add_argument("--weights", choices=("raw", "ema", "avg"), default="raw",
                   help="raw = model.safetensors; ema / avg = the averaged weights (train.ema_decay, "
                        "train.avg_last_epochs)")
    e.add_argument("--task", default=None, help="zero-shot multiple-choice accuracy instead: a .jsonl of "
                                                "{context, choices, label}, or 'heldout' (built from the store)")
    e.add_argument("--task-limit", type=int, default=0, help="score at most N examples (heldout default: 200)")
    e.add_argument("--task-seed", type=int, default=0, help="seed of the heldout task's examples")

    s = sub.add_parser("sample", help="generate text from a run")
    s.add_argument("run_dir")
    s.add_argument("--prompt", default="", help="text to continue")
    s.add_argument("--tokens", type=int, default=200, help="tokens to generate")
    s.add_argument("--temperature", type=float, default=0.8)
    s.add_argument("--top-k", type=int, default=50)
    s.add_argument("--seed", type=int, default=0)

    r = sub.add_parser("run", help="the main job on a corpus (default: built-in)")
    r.add_argument("--data", default=None, help="a corpus path or a token store (default: the built-in corpus)")
    r.add_argument("--preset", default="default", help=f"one of: {', '.join(recipes.PRESETS)}")
    r.add_argument("--out", default="squeeze-out", help="output directory (default: squeeze-out)")
    r.add_argument("--text-field", default="text", help=".jsonl field holding the text")
    r.add_argument("--workers", type=int, default=None, help="parallel 1-thread training processes (default: "
                                                             "min(2, cores))")
    r.add_argument("--executor", default="local", choices=("local", "ray"), help="where the runs train: local "
                   "processes (one per GPU when GPUs are visible) or a Ray cluster (see `squeeze sweep --help`)")
    r.add_argument("--ray-address", default=None, help="Ray cluster to join (default: a local Ray instance)")
    r.add_argument("--runs-per-gpu", type=int, default=1, help="small models: runs sharing one GPU (default 1)")

    rp = sub.add_parser("report", help="report.md, report.html and plots of a study directory")
    rp.add_argument("dir", help="the --out directory of `squeeze run`")
    add_sweep_parser(sub)
    add_fit_parser(sub)

    x = sub.add_parser("export", help="a run's model as a Hugging Face folder (transformers loads it offline)")
    x.add_argument("run_dir")
    x.add_argument("--format", default="hf", help="hf: Llama (Qwen3 for QK-norm models) + tokenizer (default)")
    x.add_argument("--out", required=True, help="folder to write")
    x.add_argument("--force", action="store_true", help="overwrite a folder that already holds a model")
    add_prune_parser(sub)
    add_member_parsers(sub)
    return p


def cmd_prepare(a: argparse.Namespace) -> None:
    from squeeze.data.corpus import iter_documents
    from squeeze.data.store import prepare_store
    if next(iter_documents(a.data, text_field=a.text_field), None) is None:
        raise SqueezeError(f"{a.data or 'built-in corpus'}: corpus is empty (no non-blank documents)")
    docs = lambda: iter_documents(a.data, text_field=a.text_field)  # streamed: read 3 times, never held in memory
    meta = prepare_store(docs, a.out, vocab_size=a.vocab_size, tokenizer_path=a.tokenizer,
                         val_fraction=a.val_fraction, seed=a.seed, budget_tokens=a.budget_tokens,
                         source=a.data or "builtin", force=a.force,
                         **({"tokenizer_sample_chars": a.tokenizer_sample_chars} if a.tokenizer_sample_chars else {}))
    print(f"{a.out}: {meta['n_train_docs']:,} training documents ({meta['train_tokens']:,} tokens), "
          f"{meta['n_val_docs']:,} validation documents ({meta['val_tokens']:,} tokens), vocabulary "
          f"{meta['vocab_size']:,}")


def cmd_train(a: argparse.Namespace, overrides: list[str]) -> None:
    from squeeze.train.trainer import train
    run_dir = Path(a.out)
    if a.data:
        overrides = [f"data.path={a.data}", *overrides]
    if a.epochs is not None:
        overrides = [*overrides, f"train.epochs={a.epochs}"]
    overrides += [f"train.{k}={v}" for k, v in (("init", a.init), ("log", a.log)) if v is not None]
    if a.resume and not (a.config or a.recipe) and (run_dir / "config.json").exists():
        base = config_mod.load(str(run_dir / "config.json"))  # resume needs no flags beyond the run dir; the
    else:  # trainer refuses any flag that would change the run
        base = config_mod.load(a.config) if a.config else recipes.recipe(a.recipe or "standard")
    cfg = config_mod.apply_overrides(base, overrides)
    summary = train(cfg, run_dir, resume=a.resume, force=a.force, quiet=a.quiet)
    if summary.get("diverged"):
        raise SqueezeError(summary["message"])
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for all
        print(f"val loss {summary['val_loss']:.4f} nats/token, {summary['val_bpb']:.4f} bits/byte")


def cmd_eval(a: argparse.Namespace) -> None:
    if len(a.run_dirs) > 1:
        if a.task or a.weights != "raw":
            raise SqueezeError("--task and --weights apply to one run; an ensemble uses each member's raw weights")
        from squeeze.ensemble import ensemble_eval, format_table
        r = ensemble_eval(a.run_dirs, data=a.data, n_orders=a.orders)
        print(json.dumps(r) if a.json else format_table(r))
        return
    a.run_dir = a.run_dirs[0]
    if a.task:
        from squeeze.eval_tasks import cmd_eval_task
        return cmd_eval_task(a)
    from squeeze.evaluate import evaluate
    from squeeze.train.checkpoint import check_tokenizer, load_run
    from squeeze.train.trainer import bind_to_store
    weights = {"raw": "model.safetensors", "ema": "model_ema.safetensors", "avg": "model_avg.safetensors"}[a.weights]
    cfg, model, info = load_run(a.run_dir, weights=weights)
    if a.data:
        cfg.data.path = a.data
    _, store = bind_to_store(cfg)
    check_tokenizer(Path(a.run_dir), info, store)
    out = evaluate(model, store.val, store.token_bytes, cfg.model.seq_len, cfg.train.batch_size,
                   dtype=cfg.train.dtype)
    if a.json:
        print(json.dumps({**out, "weights": weights}))
    else:
        print(f"{a.run_dir} ({weights}): val loss {out['loss']:.4f} nats/token, {out['bpb']:.4f} bits/byte "
              f"({out['tokens']:,} tokens, {out['bytes']:,} bytes)")


def cmd_sample(a: argparse.Namespace) -> None:
    import torch
    from squeeze.data.store import TokenStore
    from squeeze.train.checkpoint import check_tokenizer, load_run
    cfg, model, info = load_run(a.run_dir)
    store = TokenStore.open(cfg.data.path)
    check_tokenizer(Path(a.run_dir), info, store)
    tok = store.tokenizer
    ids = tok.encode(a.prompt).ids if a.prompt else [store.eot_id]
    gen = torch.Generator().manual_seed(a.seed)
    out = model.generate(torch.tensor([ids]), a.tokens, temperature=a.temperature, top_k=a.top_k, generator=gen)
    print(tok.decode(out[0].tolist(), skip_special_tokens=False).replace("<|endoftext|>", "\n\n"))


def cmd_export(a: argparse.Namespace) -> None:
    from squeeze.export import describe_export, export_run
    print(describe_export(a.out, export_run(a.run_dir, a.out, a.format, force=a.force)))


def cmd_run(a: argparse.Namespace) -> None:
    from squeeze.study.run import run_study
    if a.workers is not None and a.workers < 1:
        raise SqueezeError(f"--workers {a.workers}: must be >= 1")
    run_study(a.data, a.preset, a.out, text_field=a.text_field, workers=a.workers,
              executor={"executor": a.executor, "ray_address": a.ray_address, "runs_per_gpu": a.runs_per_gpu})


def cmd_report(a: argparse.Namespace) -> None:
    from squeeze.study.report import cmd_report as report
    report(a)


def _join_spaced_overrides(rest: list[str]) -> list[str]:
    """Accept `--train.lr 3e-3` as well as `--train.lr=3e-3`."""
    out, i = [], 0
    while i < len(rest):
        item = rest[i]
        if item.startswith(CONFIG_SECTIONS) and "=" not in item and i + 1 < len(rest) \
                and not rest[i + 1].startswith("--"):
            out.append(f"{item}={rest[i + 1]}")
            i += 2
        else:
            out.append(item)
            i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args, rest = _parser().parse_known_args(argv)
    except SqueezeError as e:
        print(f"squeeze: error: {e}", file=sys.stderr)
        return 2
    rest = _join_spaced_overrides(rest)
    overrides = [x for x in rest if x.startswith(CONFIG_SECTIONS)]
    unknown = [x for x in rest if x not in overrides]
    try:
        if unknown:
            raise SqueezeError(f"unrecognized arguments: {' '.join(unknown)}")
        if overrides and args.command not in ("train", "sweep", "ensemble", "distill"):
            raise SqueezeError(f"config overrides ({overrides[0]}) apply to `squeeze train`, `sweep`, `ensemble` "
                               "and `distill` only")
        if args.command == "train":
            cmd_train(args, overrides)
        elif args.command == "sweep":
            cmd_sweep(args, overrides)
        elif args.command in ("ensemble", "distill"):
            {"ensemble": cmd_ensemble, "distill": cmd_distill}[args.command](args, overrides)
        else:
            {"prepare": cmd_prepare, "eval": cmd_eval, "sample": cmd_sample, "run": cmd_run,
             "fit": cmd_fit, "report": cmd_report, "export": cmd_export, "prune": cmd_prune}[args.command](args)
    except SqueezeError as e:
        print(f"squeeze: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("squeeze: interrupted (a run resumes with --resume)", file=sys.stderr)
        return 130
    except OSError as e:
        if e.errno not in DISK_ERRNOS:  # anything else escaping as OSError is a bug: keep its traceback
            raise
        print(f"squeeze: error: {disk_error(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
