"""Knowledge distillation inside THE trainer: the KD loss, the teacher (one model or a mixture of members), and
sequence-level distillation (teacher-generated sequences mixed into the batches).

loss = (1 - alpha)·CE(student, y) + alpha·T²·KL(p_teacher^T ‖ p_student^T), both softmaxes at temperature T; the
T² keeps the KD gradient's scale independent of T (Hinton et al. 2015). A teacher of several run directories is the
mixture of their probabilities at temperature T (log of the mean of member softmaxes), the combination that beat
logit averaging by 0.011 nats (docs/design.md section 1). Teachers run under torch.inference_mode; their forward FLOPs
(1/3 of the 6N training FLOPs per token) and seconds go into summary.json.
A frozen teacher gives a sequence the same log-probs every epoch, so they are kept per sequence (up to
TEACHER_CACHE_BYTES) and a batch whose every row was seen before costs no forward pass: a student of many epochs pays
for its teacher about once. A row's log-probs do not depend on the other rows of its batch (checked bit for bit on
the CPU), so the cache changes no number; summary.json counts the tokens served from it apart
(`teacher_cached_tokens`), and the FLOPs are those of the forward passes actually run.

Sequence-level KD: `distill.seq_count` sequences of seq_len+1 tokens are sampled once from the teacher and saved in
the run directory (synthetic.npy), so a resumed run reads the same ones. Each step adds
m = round(B·f/(1-f)) of them (f = distill.seq_fraction) to the real batch, picked by a pure function of
(data.seed, epoch, step): the real rows are untouched, so every real sequence is still seen once per epoch.

Run with `squeeze distill --data DIR --teachers RUN_DIR... --out RUN_DIR`; exercised by tests/test_distill.py.
"""
import math
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from squeeze.config import Config
from squeeze.errors import SqueezeError
from squeeze.io import read_json, write_json
from squeeze.train.checkpoint import WEIGHTS, check_tokenizer, load_run

SYNTHETIC, SYNTHETIC_META = "synthetic.npy", "synthetic.json"
TEACHER_CACHE_BYTES = 256 * 2 ** 20  # the teacher's log-probs kept per sequence: 78 sequences of 128 x 1024 are 41 MB


def kd_loss(logits_BTV: torch.Tensor, teacher_logp_BTV: torch.Tensor, y_BT: torch.Tensor, alpha: float,
            temperature: float) -> torch.Tensor:
    """(1 - alpha)·CE + alpha·T²·KL(p_teacher^T ‖ p_student^T), mean over tokens; teacher_logp is already at T."""
    logits_NV = logits_BTV.float().flatten(0, 1)
    ce = F.cross_entropy(logits_NV, y_BT.flatten())
    if alpha == 0:
        return ce
    student_logp_NV = (logits_NV / temperature).log_softmax(-1)
    teacher_logp_NV = teacher_logp_BTV.float().flatten(0, 1)
    kl = (teacher_logp_NV.exp() * (teacher_logp_NV - student_logp_NV)).sum(-1).mean()
    return (1 - alpha) * ce + alpha * temperature ** 2 * kl


def kd_objective(model, alpha: float, temperature: float, x_BT: torch.Tensor, y_BT: torch.Tensor,
                 teacher_logp_BTV: torch.Tensor) -> torch.Tensor:
    return kd_loss(model(x_BT), teacher_logp_BTV, y_BT, alpha, temperature)


def mixture_logp(logits_KBTV: torch.Tensor, temperature: float = 1.0, weights_K: torch.Tensor | None = None):
    """log Σ_k w_k softmax(z_k / T): the mixture of member probabilities (uniform weights by default)."""
    logp_KBTV = (logits_KBTV.float() / temperature).log_softmax(-1)
    K = logp_KBTV.shape[0]
    logw_K = torch.full((K,), -math.log(K)) if weights_K is None else weights_K.float().log()
    return torch.logsumexp(logp_KBTV + logw_K.to(logp_KBTV.device).view(K, *[1] * (logp_KBTV.dim() - 1)), 0)


class Teacher:
    """One or several trained runs used as a frozen teacher; counts its own cost. `logp` keeps each sequence's
    log-probs (up to cache_bytes) and serves a batch of sequences it has all seen from them."""

    def __init__(self, run_dirs: list[str], store, seq_len: int, device: str, cache_bytes: int | None = None):
        if not run_dirs:
            raise SqueezeError("distill.teachers is empty")
        self.models, self.seconds, self.tokens, self.cached_tokens = [], 0.0, 0, 0
        self.cache: dict[tuple[float, bytes], torch.Tensor] = {}
        self.cache_room = TEACHER_CACHE_BYTES if cache_bytes is None else cache_bytes
        for d in run_dirs:  # a run directory (its model.safetensors), or one weights file inside one (a snapshot)
            run_dir, weights = (Path(d).parent, Path(d).name) if d.endswith(".safetensors") else (Path(d), WEIGHTS)
            cfg, model, info = load_run(run_dir, device, weights)
            check_tokenizer(run_dir, info, store)
            if cfg.model.vocab_size != store.vocab_size:
                raise SqueezeError(f"{d}: teacher vocabulary {cfg.model.vocab_size} != token store's "
                                   f"{store.vocab_size}")
            if cfg.model.seq_len < seq_len:
                raise SqueezeError(f"{d}: teacher context {cfg.model.seq_len} is shorter than the student's {seq_len}")
            self.models.append(model.requires_grad_(False))
        # a forward pass is 1/3 of the 6N + attention training FLOPs per token
        self.flops_per_token = sum(m.flops_per_token() for m in self.models) // 3
        self.params = sum(m.param_counts()["total"] for m in self.models)

    @torch.inference_mode()
    def _logp(self, x_BT: torch.Tensor, temperature: float) -> torch.Tensor:
        logits_KBTV = torch.stack([m(x_BT).float() for m in self.models])
        return mixture_logp(logits_KBTV, temperature)

    def logp(self, x_BT: torch.Tensor, temperature: float) -> torch.Tensor:
        keys = [(temperature, row.tobytes()) for row in x_BT.cpu().numpy()]
        if keys and all(k in self.cache for k in keys):
            self.cached_tokens += x_BT.numel()
            return torch.stack([self.cache[k] for k in keys])
        t0 = time.perf_counter()
        out = self._logp(x_BT, temperature).clone()  # a normal tensor: inference tensors cannot enter autograd
        self.seconds += time.perf_counter() - t0
        self.tokens += x_BT.numel()
        row_bytes = out[0].numel() * out.element_size() if len(out) else 0
        for k, row in zip(keys, out):
            if k not in self.cache and self.cache_room >= row_bytes:
                self.cache[k] = row.clone()  # its own storage: the batch's goes to the loss
                self.cache_room -= row_bytes
        return out

    @torch.inference_mode()
    def generate(self, n: int, length: int, temperature: float, start_id: int, seed: int,
                 chunk: int = 64) -> np.ndarray:
        """n sequences of `length` tokens, each starting with start_id, sampled from the teacher at `temperature`.
        One model: GPT.generate; several: sample each token from the mixture of their probabilities."""
        gen = torch.Generator().manual_seed(seed)
        device = next(self.models[0].parameters()).device
        out = []
        for i in range(0, n, chunk):
            idx_BT = torch.full((min(chunk, n - i), 1), start_id, dtype=torch.long, device=device)
            if len(self.models) == 1:
                idx_BT = self.models[0].generate(idx_BT, length - 1, temperature=temperature, generator=gen)
            else:
                for _ in range(length - 1):
                    logp_BV = self._logp(idx_BT, temperature)[:, -1]
                    nxt_B1 = torch.multinomial(logp_BV.exp().cpu(), 1, generator=gen).to(device)
                    idx_BT = torch.cat([idx_BT, nxt_B1], dim=1)
            out.append(idx_BT.cpu().numpy().astype(np.int32))
        return np.concatenate(out)


def synthetic_rows_per_step(batch_size: int, fraction: float) -> int:
    """Generated rows added to a real batch of batch_size so that they make up `fraction` of it."""
    return int(round(batch_size * fraction / (1 - fraction)))


def synthetic_pick(seed: int, epoch: int, step: int, m: int, n: int) -> np.ndarray:
    """Which generated sequences join the batch at (epoch, step): a pure function, so resume repeats it."""
    return np.random.default_rng([seed, epoch, step, 7]).integers(0, n, size=m)


class Distiller:
    """The trainer's hook: builds the teacher, the (generated) sequences, and the loss inputs of each step."""

    def __init__(self, cfg: Config, store, run_dir: Path, device: str, resumed: dict, say):
        dc = cfg.distill
        self.cfg, self.device = cfg, device
        self.teacher = Teacher(dc.teacher_dirs(), store, cfg.model.seq_len, device)
        say(f"distill: teacher of {len(self.teacher.models)} model(s), {self.teacher.params:,} parameters, "
            f"alpha {dc.alpha:g}, T {dc.temperature:g}")
        if resumed:  # the state.pt the trainer resumed from
            saved = resumed.get("distill", {})
            self.teacher.seconds = float(saved.get("teacher_seconds", 0.0))
            self.teacher.tokens = int(saved.get("teacher_tokens", 0))
            self.teacher.cached_tokens = int(saved.get("teacher_cached_tokens", 0))
        self.synthetic, self.gen_seconds = None, 0.0
        if dc.seq_count:
            self.synthetic, self.gen_seconds = self._synthetic(store, run_dir, say)
            self.m = synthetic_rows_per_step(cfg.train.batch_size, dc.seq_fraction)

    def _synthetic(self, store, run_dir: Path, say) -> tuple[torch.Tensor, float]:
        dc, L = self.cfg.distill, self.cfg.model.seq_len + 1
        meta = {"teachers": dc.teacher_dirs(), "count": dc.seq_count, "temperature": dc.seq_temperature,
                "length": L, "seed": self.cfg.train.seed}
        path, meta_path = run_dir / SYNTHETIC, run_dir / SYNTHETIC_META
        if path.exists() and meta_path.exists() and read_json(meta_path).get("made_from") == meta:
            rows = np.load(path)
            seconds = float(read_json(meta_path)["seconds"])
        else:
            t0 = time.perf_counter()
            rows = self.teacher.generate(dc.seq_count, L, dc.seq_temperature, store.eot_id, self.cfg.train.seed)
            seconds = time.perf_counter() - t0
            np.save(path, rows)
            write_json(meta_path, {"made_from": meta, "seconds": round(seconds, 3)})
            say(f"distill: generated {dc.seq_count:,} sequences of {L} tokens in {seconds:.1f} s -> {path}")
        return torch.from_numpy(rows.astype(np.int64)), seconds

    def loss_fn(self, model):
        return partial(kd_objective, model, self.cfg.distill.alpha, self.cfg.distill.temperature)

    def extend(self, x_BT: torch.Tensor, y_BT: torch.Tensor, epoch: int, step: int) -> tuple:
        """The step's batch with its generated rows appended after the real ones (unchanged without seq KD)."""
        if self.synthetic is not None and self.m:
            pick = synthetic_pick(self.cfg.data.seed, epoch, step, self.m, len(self.synthetic))
            rows_BT = self.synthetic[torch.from_numpy(pick)].to(x_BT.device)
            x_BT, y_BT = torch.cat([x_BT, rows_BT[:, :-1]]), torch.cat([y_BT, rows_BT[:, 1:]])
        return x_BT, y_BT

    def teacher_logp(self, x_BT: torch.Tensor) -> torch.Tensor:
        return self.teacher.logp(x_BT, self.cfg.distill.temperature)

    def state(self) -> dict:
        t = self.teacher
        return {"distill": {"teacher_seconds": t.seconds, "teacher_tokens": t.tokens,
                            "teacher_cached_tokens": t.cached_tokens}}

    def summary(self) -> dict:
        t = self.teacher
        return {"teacher_params": t.params, "teacher_forward_flops": t.flops_per_token * t.tokens,
                "teacher_tokens": t.tokens, "teacher_cached_tokens": t.cached_tokens,
                "teacher_seconds": round(t.seconds, 2),
                "synthetic_sequences": 0 if self.synthetic is None else len(self.synthetic),
                "synthetic_seconds": round(self.gen_seconds, 2)}


def make_distiller(cfg: Config, store, run_dir: Path, device: str, resumed: dict, say) -> Distiller | None:
    """The trainer's distillation hook, or None; `resumed` is the state.pt being resumed from ({} for a new run)."""
    return Distiller(cfg, store, run_dir, device, resumed, say) if cfg.distill.teacher_dirs() else None


def retention(single_loss: float, student_loss: float, ensemble_loss: float, student_params: int,
              ensemble_params: int) -> dict:
    """Share of the ensemble's gain over a single model that the student keeps, and its size relative to the
    ensemble: (L_single - L_student) / (L_single - L_ensemble) (Kim et al. 2025: 83% at 1/8 of the parameters)."""
    gain = single_loss - ensemble_loss
    return {"retention": (single_loss - student_loss) / gain if gain > 0 else None,
            "param_ratio": student_params / ensemble_params,
            "single_loss": single_loss, "student_loss": student_loss, "ensemble_loss": ensemble_loss}
