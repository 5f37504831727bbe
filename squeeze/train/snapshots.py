"""Snapshot ensembles inside one run (issue 19; the NanoGPT Slowrun record's members): what happens at the end of
each cycle of the cyclic schedule (`train.lr_cycles`, math in squeeze/train/optim.py).

At the end of cycle c (1-based; after `cycle_bounds(...)[c]` steps, the lr at its floor) `Snapshots.after_step`
1. writes the weights as `snapshotNNN.safetensors` (NNN = c) in the run directory, atomically and with the sha256
   of its tensors in its header, like model.safetensors; the last one is the run's final weights;
2. with `distill.snapshot_alpha`, keeps a frozen copy of them as the teacher of cycle c+1: its loss becomes
   (1-a)·CE + a·T²·KL(p_snapshot^T ‖ p^T) (squeeze/train/distill.py's kd_loss, T = distill.snapshot_temperature);
3. with `train.snapshot_noise` = s, adds N(0, (s·RMS(W))²) noise to every weight matrix W (not the norm gains,
   which weight decay also leaves alone), drawn from a generator seeded by (train.seed, c), so the next cycle
   starts further from this snapshot (`weight_noise`, `perturb`: after that step's evaluation, so an epoch end
   that is also a cycle end reports the snapshot's loss); nothing is added after the last snapshot.
Kill-safe and resumable like averaging.py's epoch snapshots: everything is a function of the weights at the cycle
end and (seed, c), so a resumed run repeats it exactly. A resumed run rewrites no snapshot that exists (a fresh
run first deletes stale ones), and rebuilds its teacher from the previous snapshot file, so state.pt holds
nothing new. The teacher's forward passes cost a third of its 6N training FLOPs per token, like distill.py's
teachers; `flops` in summary.json includes them (`snapshot_teacher_forward_flops` says how much).
`squeeze eval RUN_DIR --snapshots` evaluates the snapshots as an ensemble (squeeze/evaluation/ensemble.py).
Exercised by tests/test_snapshots.py.
"""
from pathlib import Path

import numpy as np
import torch
from torch.distributed.tensor import DTensor, distribute_tensor

from squeeze.config import Config
from squeeze.errors import SqueezeError
from squeeze.model import GPT
from squeeze.runs.files import snapshot_cycle, snapshot_weights
from squeeze.train import checkpoint as ckpt
from squeeze.train.averaging import unique_params, whole
from squeeze.train.optim import cycle_bounds
from squeeze.train.regularize import repeats_at


def noise_seed(seed: int, cycle: int) -> int:
    """The seed of cycle `cycle`'s weight noise: its own stream, apart from init, dropout and augmentation."""
    return int(np.random.SeedSequence([seed, cycle, 0x5A4B]).generate_state(1)[0])


def weight_noise(weights: dict[str, torch.Tensor], scale: float, seed: int, cycle: int) -> dict[str, torch.Tensor]:
    """Gaussian noise for every matrix (ndim >= 2) of `weights`: std = scale x that tensor's RMS, float32 on the
    CPU, drawn in sorted name order from a generator seeded by (seed, cycle), so the same (seed, cycle) gives the
    same noise on any device and number of processes."""
    gen = torch.Generator().manual_seed(noise_seed(seed, cycle))
    out = {}
    for name in sorted(weights):
        w = weights[name]
        if w.ndim >= 2:
            rms = float(w.detach().float().pow(2).mean().sqrt())
            out[name] = torch.randn(tuple(w.shape), generator=gen) * (scale * rms)
    return out


def add_weight_noise_(model: torch.nn.Module, scale: float, seed: int, cycle: int) -> None:
    """In place: `weight_noise` added to the model's parameters (FSDP2 shards get their part of the whole noise)."""
    params = unique_params(model)
    noise = weight_noise({n: whole(p) for n, p in params.items()}, scale, seed, cycle)
    with torch.no_grad():
        for name, z in noise.items():
            p = params[name]
            if isinstance(p, DTensor):
                p.add_(distribute_tensor(z.to(p.to_local().device, p.dtype), p.device_mesh, p.placements))
            else:
                p.add_(z.to(p.device, p.dtype))


def frozen_copy(cfg: Config, weights: dict[str, torch.Tensor] | Path, device, repeats: int) -> GPT:
    """An eval-mode, gradient-free GPT holding `weights` (whole tensors, or a snapshot file), with the looped
    block's repeats of the step it was taken at. Built under fork_rng: the run's RNG stream is not touched, so a
    resumed run (teacher built at start-up) and a straight one (built at the cycle end) draw the same dropout."""
    with torch.random.fork_rng(devices=[]):
        teacher = GPT(cfg.model).to(device)
    if isinstance(weights, Path):
        ckpt.load_weights(teacher, weights)
    else:
        with torch.no_grad():
            for name, p in teacher.named_parameters():
                p.copy_(weights[name].to(p.device, p.dtype))
    teacher.repeats = repeats
    return teacher.eval().requires_grad_(False)


class Snapshots:
    """The trainer's hook for train.lr_cycles > 1 (inactive otherwise: every method is then a no-op)."""

    def __init__(self, cfg: Config, total_steps: int, run_dir: Path, resumed: dict, device, say,
                 write: bool = True):
        tc = cfg.train
        self.cfg, self.total, self.run_dir, self.device, self.write = cfg, total_steps, Path(run_dir), device, write
        self.n = tc.lr_cycles if tc.lr_cycles > 1 else 0
        self.alpha, self.temperature = cfg.distill.snapshot_alpha, cfg.distill.snapshot_temperature
        self.teacher: GPT | None = None
        if not self.n:
            return
        self.bounds = cycle_bounds(total_steps, self.n)
        if min(b - a for a, b in zip(self.bounds, self.bounds[1:])) < 1 or round(tc.warmup * total_steps) >= \
                self.bounds[1]:
            raise SqueezeError(f"train.lr_cycles={self.n}: {total_steps} steps leave the first cycle "
                               f"{self.bounds[1]} steps, no more than its {round(tc.warmup * total_steps)} warmup "
                               "steps; use fewer cycles, less warmup or more epochs")
        self.ends = {b: c for c, b in enumerate(self.bounds[1:], 1)}  # steps done -> the cycle that just ended
        if not resumed and write:  # a fresh start: snapshots of an earlier run here must not pass for this one's
            for p in self.run_dir.glob("snapshot*.safetensors"):
                if snapshot_cycle(p.name) is not None:
                    p.unlink()
        done = sum(1 for b in self.bounds[1:] if b <= resumed.get("step", 0))  # cycles finished before resuming
        if self.alpha and 1 <= done < self.n:
            path = self.run_dir / snapshot_weights(done)
            if not path.exists():
                raise SqueezeError(f"{path}: missing; distill.snapshot_alpha resumes with the previous snapshot as "
                                   "its teacher (restore the file or start the run again)")
            self.teacher = frozen_copy(cfg, path, device, self._repeats(done))
        say(self.describe())

    def describe(self) -> str:
        tc, lengths = self.cfg.train, sorted({b - a for a, b in zip(self.bounds, self.bounds[1:])})
        return (f"snapshots: {self.n} cycles of {'-'.join(map(str, lengths))} steps (warmup in the first only), "
                f"snapshot001..{self.n:03d}.safetensors at steps {', '.join(map(str, self.bounds[1:]))}"
                + (f"; wd x{tc.wd_cycle_min:g} at the peak lr .. x1 at the floor" if tc.wd_cycle_min < 1 else "")
                + (f"; noise {tc.snapshot_noise:g} x RMS after each snapshot" if tc.snapshot_noise else "")
                + (f"; distilled from the previous snapshot, alpha {self.alpha:g}, T {self.temperature:g}"
                   if self.alpha else ""))

    def _repeats(self, cycle: int) -> int:
        """The looped block's repeats on the last step of `cycle` (1-based): what its snapshot ran with."""
        return repeats_at(self.bounds[cycle] - 1, self.total, self.cfg.model, self.cfg.train)

    def teacher_for(self, step: int):
        """The teacher log-probs function for `step` (0-based), or None (off, or still in the first cycle)."""
        return self.teacher_logp if self.alpha and self.teacher is not None else None

    @torch.inference_mode()
    def _logp(self, x_BT: torch.Tensor) -> torch.Tensor:
        return (self.teacher(x_BT).float() / self.temperature).log_softmax(-1)

    def teacher_logp(self, x_BT: torch.Tensor) -> torch.Tensor:
        """The previous snapshot's log-probabilities at T, [B, T, V] (a normal tensor, which autograd accepts)."""
        return self._logp(x_BT).clone()

    def after_step(self, model: torch.nn.Module, step: int) -> None:
        """Called with the number of steps done, after the optimizer step: at a cycle end, the snapshot file and
        the next cycle's teacher."""
        c = self.ends.get(step) if self.n else None
        if c is None:
            return
        weights = {n: whole(t).detach().contiguous().cpu() for n, t in unique_params(model).items()}  # every rank
        path = self.run_dir / snapshot_weights(c)
        if self.write and not path.exists():  # a resumed run may redo a cycle end it had already saved
            ckpt.save_tensors(weights, path)
        if self.alpha and c < self.n:  # a copy: the noise of `perturb` must not reach it (`weights` may share)
            self.teacher = frozen_copy(self.cfg, weights, self.device, self._repeats(c))

    def perturb(self, model: torch.nn.Module, step: int) -> None:
        """The weight noise after snapshot c < N; the trainer calls it after the step's evaluation (an epoch end
        that is also a cycle end then reports the snapshot's loss, not the noised weights') and before its
        checkpoint (which must hold the noised weights a resumed run continues from)."""
        c = self.ends.get(step) if self.n and self.cfg.train.snapshot_noise else None
        if c is not None and c < self.n:
            add_weight_noise_(model, self.cfg.train.snapshot_noise, self.cfg.train.seed, c)

    def teacher_flops(self, flops_per_token, tokens_at) -> int:
        """Forward FLOPs of the snapshot teachers: cycle c >= 2 runs snapshot c-1 forward on each of its training
        tokens, at a third of the 6N training FLOPs per token (`flops_per_token(repeats)`, `tokens_at(step)`)."""
        if not (self.n and self.alpha):
            return 0
        return sum((tokens_at(self.bounds[c]) - tokens_at(self.bounds[c - 1])) * (flops_per_token(
            self._repeats(c - 1)) // 3) for c in range(2, self.n + 1))

    def summary(self) -> dict:
        if not self.n:
            return {}
        return {"lr_cycles": self.n, "snapshots": [snapshot_weights(c) for c in range(1, self.n + 1)],
                "snapshot_steps": self.bounds[1:]}
