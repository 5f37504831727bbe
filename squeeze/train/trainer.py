"""THE training loop: (config, token store) -> run directory. Every method plugs in here, none copies it.

`train(cfg, run_dir)` builds the model and optimizers, walks the epoch-aware loader for `train.epochs` passes,
evaluates, checkpoints, and writes `summary.json` at the end. A killed run continues with `resume=True` and ends
bit-identical on CPU to one that never stopped: batches are a pure function of (epoch, step), and the checkpoint
holds weights, optimizer state, RNG state and how many metric lines were written.
The loop's per-run pieces (`Lane`, `open_lane`, `next_batch`, `clip_or_stop`, `after_update`, `finish`) are
shared with squeeze/train/batched.py, which steps several same-shape runs through one batched forward.
Run it with `squeeze train --data DIR --out RUN_DIR`; exercised by tests/test_trainer.py.
"""
import math
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

import squeeze
from squeeze import config as config_mod
from squeeze.config import Config
from squeeze.data.loader import EpochLoader
from squeeze.device import perf
from squeeze.device.precision import autocast, choose_dtype, resolve_dtype
from squeeze.errors import SqueezeError, first_line
from squeeze.evaluation.loss import computed_on, evaluate, span_digest
from squeeze.io import dir_lock, make_dir, read_json, stamp_now, write_json
from squeeze.model import GPT
from squeeze.train import checkpoint as ckpt
from squeeze.train import compiling, distributed, regularize
from squeeze.train import init as init_mod
from squeeze.train.averaging import Averager
from squeeze.train.distill import make_distiller
from squeeze.train.mirror import make_mirror
from squeeze.train.mtp import mtp_flops, objective
from squeeze.train.optim import build_optimizers, lr_multiplier, set_lr
from squeeze.train.runlog import MetricsLog, Progress
from squeeze.train.setup import Setup, make_setup
from squeeze.train.snapshots import Snapshots

RUN_FILES = (ckpt.CONFIG, ckpt.RUN, ckpt.METRICS, ckpt.WEIGHTS, ckpt.STATE, ckpt.SUMMARY, ckpt.TOKEN_LOSSES)
TOKEN_LOSSES_MAX = 2 ** 22  # a final eval of more tokens keeps no per-token losses (16 MiB of float32)


def claim_run_dir(run_dir: Path, resume: bool, force: bool) -> bool:
    """Decide between a fresh start and a resume; never silently overwrite a finished run. Returns resuming."""
    if (run_dir / ckpt.SUMMARY).exists() and not force:
        raise SqueezeError(f"{run_dir}: finished run (summary.json exists); pass --force to overwrite it")
    if force:
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
        return False
    if resume:
        if not (run_dir / ckpt.STATE).exists():
            raise SqueezeError(f"{run_dir}: nothing to resume (no {ckpt.STATE})")
        return True
    if (run_dir / ckpt.CONFIG).exists():
        raise SqueezeError(f"{run_dir}: holds an unfinished run; pass --resume to continue it or --force to "
                           "start over")
    return False


def describe(s: Setup, model: GPT, device: str) -> str:
    """The start-up lines, what the run derived: parameters, unique tokens, epochs, tokens seen, tokens per
    parameter."""
    counts, c = model.param_counts(), s.cfg
    unique = s.loader.tokens_per_epoch
    seen = unique * c.train.epochs
    heads = f"; +{counts['mtp']:,} in training-only MTP heads" if "mtp" in counts else ""
    return (f"model: {counts['total']:,} parameters ({counts['embedding']:,} embedding, "
            f"{counts['non_embedding']:,} non-embedding{heads}), {c.model.n_layer} layers x d {c.model.d_model}, "
            f"context {c.model.seq_len}\n"
            f"data: {unique:,} unique training tokens ({s.loader.n_sequences:,} sequences) x {c.train.epochs} "
            f"epochs = {seen:,} tokens seen in {s.total_steps:,} steps of {c.train.batch_size}; "
            f"{seen / counts['total']:.1f} tokens per parameter ({unique / counts['total']:.2f} unique)\n"
            f"optimizer: {c.train.optimizer}, lr {c.train.lr:g}, weight decay {c.train.weight_decay:g}, "
            f"{c.train.schedule} schedule, {c.train.dtype} on {device}"
            f"{f' ({s.dtype_reason})' if s.dtype_reason else ''}"
            f"{', compiled' if c.train.compile == 'on' else ', eager'}"
            f"{f' ({s.compile_reason})' if s.compile_reason else ''}")


def tokens_at(loader: EpochLoader, step: int) -> int:
    """Training tokens consumed after `step` optimizer steps (the last batch of an epoch may be short)."""
    epochs, in_epoch = divmod(step, loader.steps_per_epoch)
    seqs = min(in_epoch * loader.global_batch, loader.n_sequences)
    return epochs * loader.tokens_per_epoch + seqs * loader.seq_len


def lm_loss(model: GPT, x_BT: torch.Tensor, y_BT: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy in nats."""
    return F.cross_entropy(model(x_BT).flatten(0, 1), y_BT.flatten())


def step_loss(net, cfg: Config, distiller):
    """The loss function of a step: lm_loss (plain runs, unchanged), the distiller's KD loss, or
    squeeze/train/mtp.py's objective when MTP heads or snapshot distillation are on (its teacher, if any, is the
    distiller's or the previous snapshot)."""
    mtp, d = cfg.model.mtp_heads > 0, cfg.distill
    if not mtp and not d.snapshot_alpha:
        return partial(lm_loss, net) if distiller is None else distiller.loss_fn(net)
    alpha, temperature = (d.alpha, d.temperature) if distiller is not None else (d.snapshot_alpha,
                                                                                 d.snapshot_temperature)
    return partial(objective, net, mtp, cfg.train.mtp_weight, alpha, temperature)


def _checkpoint(run_dir: Path, model: GPT, optimizers: list, step: int, log: MetricsLog, elapsed: float,
                par: distributed.Parallel, extra: dict | None = None) -> None:
    """model.safetensors for eval and export, then state.pt: one file holding everything resume needs (weights
    included), so a kill between the two writes can never pair new weights with an old step. Under torchrun every
    rank joins the gather of the full state and rank 0 alone writes it."""
    model_sd, optim_sds = par.full_state(model, optimizers)
    if par.main:
        log.sync()
        ckpt.save_weights(par.plain_model(model, model_sd), run_dir)
        ckpt.save_state(run_dir, {"step": step, "metrics_lines": log.count, "elapsed": elapsed,
                                  "model": model_sd, "rng": torch.get_rng_state(),
                                  "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                                  "optimizers": optim_sds, **(extra or {})})
    par.barrier()


def _eval(model: GPT, s: Setup, device: str, max_tokens: int, token_losses: bool = False) -> dict:
    model.eval()
    out = evaluate(model, s.store.val, s.store.token_bytes, s.cfg.model.seq_len, s.cfg.train.batch_size,
                   max_tokens=max_tokens, device=device, dtype=s.cfg.train.dtype, token_losses=token_losses)
    model.train()
    return out


def train(cfg: Config, run_dir: str | Path, *, resume: bool = False, force: bool = False,
          device: str | None = None, quiet: bool = False) -> dict:
    """Train one model into `run_dir` and return its summary (also written to summary.json).

    A run whose loss becomes NaN or inf stops there and returns (and writes) a summary with `diverged: True`
    and no losses, so a sweep counts the point as trained and worse instead of retrying it forever."""
    run_dir = Path(run_dir)
    ranks = distributed.ranks_from_env()
    created = distributed.init_process_group(ranks)
    try:
        if ranks.main:
            make_dir(run_dir)
            with dir_lock(run_dir):  # rank 0 holds the lock and writes; the others wait at barriers
                return _train_locked(cfg, run_dir, resume, force, device, quiet, ranks)
        return _train_locked(cfg, run_dir, resume, force, device, True, ranks)
    finally:
        distributed.shutdown(created)


def _open_run(cfg: Config, run_dir: Path, resume: bool, force: bool, device: str, say,
              ranks: distributed.Ranks, batched: bool = False) -> tuple:
    """Start a run directory afresh or restore it from its checkpoint: (setup, model, optimizers, the state.pt
    resumed from ({} for a new run: the averager and the distiller read theirs from it), metrics log, parallel).
    On resume the saved config.json wins, and must equal the one asked for."""
    resuming = claim_run_dir(run_dir, resume, force) if ranks.main else resume and not force
    if ranks.world > 1:
        distributed.dist.barrier()  # rank 0 has claimed (or cleared) the run directory
    if resuming:
        saved = config_mod.load(str(run_dir / ckpt.CONFIG))
        asked = config_mod.with_saved_choices(cfg, saved)
        if asked.train.init:  # the init source fixed the architecture at step 0
            asked = init_mod.keep_source_architecture(asked, saved)
        if diff := config_mod.first_difference(asked, saved):
            raise SqueezeError(f"{run_dir}: --resume with a config that differs from the saved config.json ({diff})")
        cfg = saved
    init = None
    if not resuming and cfg.train.init:
        cfg, init = init_mod.resolve(cfg, say)
    s = make_setup(cfg.copy() if not resuming else cfg, ranks.rank, ranks.world)
    par = distributed.Parallel(ranks, s.cfg.train.parallel, s.cfg.train.micro_batch, s.cfg.train.batch_size)
    torch.manual_seed(s.cfg.train.seed)
    model = GPT(s.cfg.model).to(device)
    if not resuming:  # config.json records what runs, so a resume and every later evaluation of the run use it
        t = s.cfg.train
        flops = model.flops_per_token() * s.loader.tokens_per_epoch * t.epochs
        compiled, s.compile_reason = compiling.decide(s.cfg, device, flops, torch.get_num_threads(), batched)
        t.compile = "on" if compiled else "off"
        t.dtype, s.dtype_reason = choose_dtype(t.dtype, device, compiled, width=s.cfg.model.d_model)
    if init:
        init_mod.apply(model, init)
    par.wrap(model, s.cfg.train.optimizer)
    optimizers = build_optimizers(model, s.cfg.train)
    if not resuming and not ranks.main:
        return s, model, optimizers, {}, distributed.NullLog(), par
    if not resuming:
        config_mod.save(s.cfg, str(run_dir / ckpt.CONFIG))
        write_json(run_dir / ckpt.RUN, {
            "git_commit": ckpt.git_commit(), "squeeze": squeeze.__version__, "torch": torch.__version__,
            "python": platform.python_version(), "device": device, "host": platform.node(),
            "tokenizer_fingerprint": s.store.fingerprint, "started": stamp_now(),
            "dtype": s.cfg.train.dtype, "dtype_reason": s.dtype_reason,
            "compile": s.cfg.train.compile, "compile_reason": s.compile_reason,
            **({"keep_mask_sha256": s.kept_sha256} if s.kept_sha256 else {}),
            **({"init": init.record()} if init else {})})
        return s, model, optimizers, {}, MetricsLog(run_dir / ckpt.METRICS, keep_lines=0), par
    info = read_json(run_dir / ckpt.RUN)
    ckpt.check_tokenizer(run_dir, info, s.store)
    if info.get("keep_mask_sha256", s.kept_sha256) != s.kept_sha256:  # the same path, other documents
        raise SqueezeError(f"{s.cfg.data.keep_mask}: keeps other documents than when {run_dir} started; a resumed "
                           "run must train on the same subset (restore the mask or start a new run)")
    state = ckpt.load_state(run_dir)
    try:
        par.load_state(model, optimizers, state)
    except (KeyError, RuntimeError, ValueError) as e:
        raise SqueezeError(f"{run_dir / ckpt.STATE}: does not match the config ({first_line(e)})") from None
    torch.set_rng_state(state["rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    say(f"resuming {run_dir} at step {state['step']:,} of {s.total_steps:,}")
    log = MetricsLog(run_dir / ckpt.METRICS, keep_lines=state["metrics_lines"]) if ranks.main else distributed.NullLog()
    return s, model, optimizers, state, log, par


def _diverged(run_dir: Path, loss: float, grad_norm: float, step: int, lr: float, write: bool = True) -> dict:
    """Record a run whose loss or gradient became NaN/inf; the weights on disk are the last good checkpoint."""
    kept = (run_dir / ckpt.STATE).exists()  # checkpoints are only ever written from finite steps
    message = (f"{run_dir}: loss became {loss:g} (grad norm {grad_norm:g}) at step {step}; stopped, "
               f"{'the last good checkpoint is kept' if kept else 'no checkpoint had been saved yet'} "
               f"(try a lower train.lr than {lr:g})")
    summary = {"diverged": True, "message": message, "val_loss": None, "val_bpb": None, "steps": step}
    if write:
        write_json(run_dir / ckpt.SUMMARY, summary)
    return summary


def _summary(s: Setup, model: GPT, final: dict, steps: int, train_time: float, peak_of: Callable[[float], float],
             snaps: Snapshots | None = None) -> dict:
    """summary.json's fields; `peak_of` maps the run's achieved FLOP/s to the peak its MFU is measured against."""
    counts, seen = model.param_counts(), s.loader.tokens_per_epoch * s.cfg.train.epochs
    # `flops` counts everything the run computed: MTP heads and snapshot teachers too, each also on its own
    extra = {"mtp_flops": mtp_flops(s.cfg.model, tokens_at(s.loader, s.total_steps)) if "mtp" in counts else 0,
             "snapshot_teacher_forward_flops": snaps.teacher_flops(model.flops_per_token,
                                                                   partial(tokens_at, s.loader)) if snaps else 0}
    extra = {k: v for k, v in extra.items() if v} | ({"mtp_params": counts["mtp"]} if "mtp" in counts else {})
    # the looped block's extra passes count only for the steps that ran them (train.loop_from)
    flops = regularize.training_flops(model.flops_per_token, partial(tokens_at, s.loader), s.total_steps, s.cfg) \
        + sum(v for k, v in extra.items() if k.endswith("_flops"))
    achieved = perf.flops_per_second(flops, train_time)
    peak = peak_of(achieved)
    return {
        "val_loss": final["loss"], "val_bpb": final["bpb"], "val_tokens": final["tokens"],
        "params": counts["total"], "non_embedding_params": counts["non_embedding"],
        "unique_tokens": s.loader.tokens_per_epoch, "epochs": s.cfg.train.epochs, "tokens_seen": seen,
        "steps": steps, "train_seconds": round(train_time, 2),
        "flops": flops,
        "effective_depth": model.effective_depth(s.cfg.model.loop_repeats),
        "mean_depth": regularize.mean_depth(s.total_steps, s.cfg),
        "tokens_per_second": round(seen / max(train_time, 1e-9), 1),  # wall clock, epoch-end evals included
        # the same wall clock in FLOPs, against the matmul peak measured in this process for the run's device,
        # dtype and threads, times the processes (squeeze/device/perf.py): the peak is saved so MFU can be recomputed
        "flops_per_second": round(achieved, 1), "peak_flops": round(peak, 1),
        "mfu": round(perf.mfu(achieved, peak), 6),
        **extra, **(snaps.summary() if snaps else {}),
    }


@dataclass
class Lane:
    """One run inside the training loop: what the loop keeps per run. A plain run is one lane;
    squeeze/train/batched.py steps several same-shape lanes through one batched forward and backward."""
    run_dir: Path
    s: Setup
    model: GPT
    optimizers: list
    log: MetricsLog
    par: distributed.Parallel
    avg: Averager
    snaps: Snapshots
    distiller: object
    step: int
    elapsed: float

    def extra_state(self) -> dict:
        return {**self.avg.state(), **((self.distiller.state() if self.distiller is not None else None) or {})}


def open_lane(cfg: Config, run_dir: Path, resume: bool, force: bool, device: str, say,
              ranks: distributed.Ranks = distributed.Ranks(), batched: bool = False) -> Lane:
    """Start or restore one run (`_open_run`) with its metrics mirror, averager, snapshots and distiller, and say
    its start-up lines. `batched`: the run is a lane of a batched group (it does not compile)."""
    s, model, optimizers, resumed, log, par = _open_run(cfg, run_dir, resume, force, device, say, ranks, batched)
    log.mirror = make_mirror(s.cfg.train.log, run_dir, config_mod.to_dict(s.cfg)) if par.main else None
    say(describe(s, model, device))
    avg = Averager(s.cfg.train, s.total_steps, s.loader.steps_per_epoch, run_dir, write=par.main)
    if resumed:
        avg.load(resumed, model)
    snaps = Snapshots(s.cfg, s.total_steps, run_dir, resumed, device, say, write=par.main)  # train.lr_cycles
    if not par.simple:
        say(par.describe())
    distiller = make_distiller(s.cfg, s.store, run_dir, device, resumed, say)  # None unless distill.teachers is set
    return Lane(run_dir, s, model, optimizers, log, par, avg, snaps, distiller, resumed.get("step", 0),
                resumed.get("elapsed", 0.0))


def next_batch(lane: Lane, device: str) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """The step's inputs and targets (augmented, with generated rows under sequence-level KD), its epoch and
    index in the epoch; sets the step's learning rate, weight decay and loop depth."""
    s, step = lane.s, lane.step
    epoch, in_epoch = divmod(step, s.loader.steps_per_epoch)
    x_BT, y_BT = (t.to(device) for t in s.loader.batch(epoch, in_epoch))
    if lane.distiller is not None:  # sequence-level KD: generated rows join the real ones
        x_BT, y_BT = lane.distiller.extend(x_BT, y_BT, epoch, in_epoch)
    set_lr(lane.optimizers, lr_multiplier(step, s.total_steps, s.cfg.train))
    regularize.before_step(lane.model, lane.optimizers, step, s.total_steps, s.cfg)
    return regularize.augment_inputs(x_BT, step, s.cfg), y_BT, epoch, in_epoch


def clip_or_stop(lane: Lane, loss_value: float, say) -> tuple[float, dict | None]:
    """Clip the lane's gradient; (grad norm, None), or (grad norm, the diverged summary) when the loss or the
    gradient is NaN/inf. Stopping before the bad update touches the weights keeps the last checkpoint good, and
    the point counts as diverged: a sweep then counts it as trained and worse instead of retrying it forever."""
    tc = lane.s.cfg.train
    grad_norm = float(torch.nn.utils.clip_grad_norm_(lane.model.parameters(), tc.grad_clip or math.inf))
    if math.isfinite(loss_value) and math.isfinite(grad_norm):
        return grad_norm, None
    summary = _diverged(lane.run_dir, loss_value, grad_norm, lane.step, tc.lr, write=lane.par.main)
    say(summary["message"])
    return grad_norm, summary


def after_update(lane: Lane, epoch: int, loss_value: float, grad_norm: float, device: str, t0: float,
                 bar: Progress | None = None, tok_s: float = 0.0) -> None:
    """Everything after an optimizer step: the step count, averaging and snapshots, the metrics line (and the
    bar's, when given), the epoch-end or periodic eval, snapshot noise and the periodic checkpoint."""
    s, tc = lane.s, lane.s.cfg.train
    for opt in lane.optimizers:
        opt.step()
        opt.zero_grad(set_to_none=True)
    lane.step += 1
    step, spe = lane.step, s.loader.steps_per_epoch
    lane.avg.after_step(lane.model, step)
    lane.snaps.after_step(lane.model, step)  # at a cycle end: the snapshot file and the next teacher
    if step % tc.log_every == 0 or step == s.total_steps:
        if bar is not None:
            bar.show(step, loss_value, tok_s, lane.model.flops_per_token())
        lane.log.write(step=step, epoch=epoch + 1, tokens=tokens_at(s.loader, step),
                       lr=lane.optimizers[-1].param_groups[0]["lr"], train_loss=loss_value,
                       grad_norm=grad_norm, time=round(lane.elapsed + time.perf_counter() - t0, 3))
    ended = step // spe if step % spe == 0 else 0  # the epoch that just ended, if one did
    epoch_end = ended > 0 and (tc.epoch_evals == "every" or ended & (ended - 1) == 0)  # "doubling": 1, 2, 4, ...
    if step < s.total_steps and (epoch_end or (tc.eval_every and step % tc.eval_every == 0)):
        ev = _eval(lane.model, s, device, tc.eval_tokens)
        lane.log.write(step=step, epoch=step / spe, val_loss=ev["loss"], val_bpb=ev["bpb"], val_tokens=ev["tokens"])
        if epoch_end and bar is not None:
            bar.write_line(f"epoch {ended}/{tc.epochs}: val loss {ev['loss']:.4f}, {ev['bpb']:.4f} bits/byte")
    lane.snaps.perturb(lane.model, step)  # the weight noise after a snapshot: after its eval, before the checkpoint
    if step % tc.ckpt_every == 0 and step < s.total_steps:
        _checkpoint(lane.run_dir, lane.model, lane.optimizers, step, lane.log,
                    lane.elapsed + time.perf_counter() - t0, lane.par, lane.extra_state())


def finish(lane: Lane, train_time: float, device: str, dtype, say, world: int = 1, extra: dict | None = None) -> dict:
    """The end of a run: the last checkpoint, the final eval (and the averaged weights'), summary.json."""
    s, model, tc, step = lane.s, lane.model, lane.s.cfg.train, lane.step
    # Checkpoint before the final eval line: a kill before summary.json then resumes to one final eval, not two.
    _checkpoint(lane.run_dir, model, lane.optimizers, step, lane.log, train_time, lane.par, lane.extra_state())
    model.repeats = regularize.repeats_at(s.total_steps - 1, s.total_steps, s.cfg.model, tc)  # as the last step
    final = _eval(model, s, device, tc.final_eval_tokens, token_losses=True)
    nll_N = final.pop("token_losses")
    if lane.par.main and len(nll_N) <= TOKEN_LOSSES_MAX:  # before summary.json: a finished run has them
        ckpt.save_token_losses(lane.run_dir, nll_N, span_digest(s.store.val, tc.final_eval_tokens),
                               computed_on(device, tc.dtype))
    lane.log.write(step=step, epoch=tc.epochs, val_loss=final["loss"], val_bpb=final["bpb"], val_tokens=final["tokens"])
    avg = lane.avg
    averaged = avg.finish(model, lambda m: _eval(m, s, device, tc.final_eval_tokens)) if avg.active else {}
    if averaged:  # EMA / last-k average next to the raw weights; val_loss stays the raw model.safetensors
        lane.log.write(step=step, epoch=tc.epochs, **{k: v for k, v in averaged.items() if k.startswith("val_")})
    lane.log.sync()

    def peak_of(achieved: float) -> float:  # probed after the clock stopped, again if the run came close to it
        return perf.peak_flops(device, dtype, achieved / world) * world

    summary = {**_summary(s, model, final, step, train_time, peak_of, lane.snaps), **averaged, **(extra or {})}
    if lane.distiller is not None:
        summary.update(lane.distiller.summary())
    if lane.par.main:
        write_json(lane.run_dir / ckpt.SUMMARY, summary)
    if lane.log.mirror:
        lane.log.mirror.close()
    lane.par.barrier()
    say(f"{lane.run_dir}: val loss {final['loss']:.4f} nats/token, {final['bpb']:.4f} bits/byte; "
        f"{summary['tokens_per_second']:,.0f} tok/s, {summary['flops_per_second'] / 1e9:,.1f} GFLOP/s, "
        f"MFU {summary['mfu']:.1%} of a measured {summary['peak_flops'] / 1e9:,.0f} GFLOP/s")
    return summary


def start_device(device: str | None, threads: int, ranks: distributed.Ranks = distributed.Ranks()) -> str:
    """The device a run trains on, with this process's threads and denormal handling set for it."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if ranks.world > 1 and device == "cuda":
        device = f"cuda:{ranks.local_rank}"  # one GPU per process (init_process_group set it current)
    if device == "cpu":
        torch.set_flush_denormal(True)  # denormals in tiny gradients cost up to 10x on x86 CPUs
    if threads:
        torch.set_num_threads(threads)
    return device


def _train_locked(cfg: Config, run_dir: Path, resume: bool, force: bool, device: str | None, quiet: bool,
                  ranks: distributed.Ranks = distributed.Ranks()) -> dict:
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr))
    device = start_device(device, cfg.train.threads, ranks)
    lane = open_lane(cfg, run_dir, resume, force, device, say, ranks)
    s, model, par, tc = lane.s, lane.model, lane.par, lane.s.cfg.train
    # The loss goes inside the compiled graph with the model: fusing log-softmax with the head's output was
    # worth ~1.2x on the 2-core CPU. Evaluation stays eager (a second compile costs more than it saves).
    loss_fn = full_fn = step_loss(par.net, s.cfg, lane.distiller)
    if tc.compile == "on":
        compiling.share_inductor_cache()
        # Static shapes, and only full steps compiled: an epoch's short last batch runs eager. Left dynamic, dynamo
        # recompiled the step as a dynamic-shape graph at the first epoch end; compiled static, the short batch cost
        # a cold compile of its own (~19 s at 1 thread) for one step an epoch (RESULTS.md)
        full_fn = torch.compile(loss_fn, dynamic=False)
    dtype = resolve_dtype(tc.dtype, device, tc.compile == "on")  # already resolved, except in runs begun before it was
    tokens_done = 0  # this session's, for tokens/s
    # the bar's MFU needs the peak: probed (0.1-0.5 s, private RNG) before the clock starts, and only when shown
    bar = Progress(s.total_steps, lane.step, quiet, 0.0 if quiet else perf.peak_flops(device, dtype) * ranks.world)
    t0 = time.perf_counter()
    model.train()
    while lane.step < s.total_steps:
        x_BT, y_BT, epoch, in_epoch = next_batch(lane, device)
        n_rows = par.global_rows(s.loader, in_epoch)
        teacher = lane.distiller.teacher_logp if lane.distiller is not None else lane.snaps.teacher_for(lane.step)
        step_fn = full_fn if n_rows == s.loader.global_batch else loss_fn
        for x_mb, y_mb, weight in par.micro_steps(x_BT, y_BT, n_rows):  # one micro-step unless accumulating
            args = (x_mb, y_mb) if teacher is None else (x_mb, y_mb, teacher(x_mb))
            with autocast(device, dtype):
                loss = step_fn(*args)
            par.backward(loss, weight)
        loss_value = par.loss_value()
        grad_norm, diverged = clip_or_stop(lane, loss_value, say)
        if diverged:
            bar.close()
            return diverged
        tokens_done += n_rows * s.loader.seq_len
        bar.update(1)
        after_update(lane, epoch, loss_value, grad_norm, device, t0, bar, tokens_done / (time.perf_counter() - t0))
    bar.close()
    return finish(lane, lane.elapsed + time.perf_counter() - t0, device, dtype, say, ranks.world)
