"""Run configuration: one dataclass per component, `--section.field=value` overrides, JSON load and save.

Every field has a default that works and a help string (listed by `squeeze train --help`). Overrides must
name an existing field and pass a type check, or the command fails with a one-line error that names the field.
Cross-field rules live in `__post_init__`. Exercised by tests/test_config.py.
"""
import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from squeeze.errors import SqueezeError
from squeeze.io import read_json, write_json


def _f(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help}, **kw)


@dataclass
class ModelConfig:
    vocab_size: int = _f(0, "vocabulary size; 0 = take it from the token store")
    n_layer: int = _f(4, "transformer blocks")
    d_model: int = _f(128, "residual width")
    n_head: int = _f(4, "attention heads (head dim = d_model / n_head)")
    seq_len: int = _f(256, "context length in tokens")
    mlp: Literal["swiglu", "gelu"] = _f("swiglu", "MLP type")
    mlp_ratio: float = _f(4.0, "MLP hidden width / d_model (SwiGLU uses 2/3 of it per matrix, same params as GELU)")
    tie_embeddings: bool = _f(True, "share the input embedding and the output head (saves V*d params)")
    qk_norm: bool = _f(True, "RMS-normalize queries and keys (stabler at high learning rates)")
    dropout: float = _f(0.0, "dropout on attention probabilities and residual branches")
    rope_base: float = _f(10000.0, "RoPE base frequency")
    attn_dropout: float = _f(-1.0, "dropout on attention probabilities; -1 = use model.dropout")
    resid_dropout: float = _f(-1.0, "dropout on the residual branches' outputs; -1 = use model.dropout")
    drop_path: float = _f(0.0, "stochastic depth: the deepest block's branch drop probability; earlier blocks get "
                          "less, linearly in depth (Huang et al. 2016); 0 = off")
    loop_start: int = _f(0, "first block of the looped middle block (index)")
    loop_end: int = _f(0, "end of the looped block (exclusive); 0 = no looped block")
    loop_repeats: int = _f(0, "extra passes through blocks [loop_start, loop_end) with shared weights; 0 = plain")
    loop_inject: bool = _f(False, "input injection: every block sees l_res*x + l_x0*x0 with learned scalars "
                           "(start at 1 and 0, so it starts as the plain model)")
    norm_eps: float = _f(1e-6, "RMSNorm epsilon (imported Hugging Face checkpoints bring their own, often 1e-5)")
    mtp_heads: int = _f(0, "multi-token prediction: auxiliary heads, head k predicts token t+1+k from the last hidden "
                        "state (RMSNorm(W_k h) through the shared unembedding); training-only, left out of export "
                        "and of summary.json's params; 0 = off")

    def __post_init__(self) -> None:
        for name in ("n_layer", "d_model", "n_head", "seq_len"):  # first: n_head divides below
            if getattr(self, name) < 1:
                raise SqueezeError(f"model.{name} must be >= 1")
        if self.d_model % self.n_head:
            raise SqueezeError(f"model.d_model={self.d_model} must be divisible by model.n_head={self.n_head}")
        if (self.d_model // self.n_head) % 2:
            raise SqueezeError("model.d_model / model.n_head must be even (RoPE rotates pairs of dimensions)")
        if not 0.0 <= self.dropout < 1.0:
            raise SqueezeError(f"model.dropout={self.dropout} must be in [0, 1)")
        if not self.norm_eps > 0:
            raise SqueezeError(f"model.norm_eps={self.norm_eps} must be > 0")
        self._check_regularizers_and_loop()
        if not 0 <= self.mtp_heads < self.seq_len:  # head k has T-k positions with a target inside the window
            raise SqueezeError(f"model.mtp_heads={self.mtp_heads} must be in [0, model.seq_len={self.seq_len})")

    def _check_regularizers_and_loop(self) -> None:
        for name in ("attn_dropout", "resid_dropout"):
            if not (getattr(self, name) == -1 or 0.0 <= getattr(self, name) < 1.0):
                raise SqueezeError(f"model.{name}={getattr(self, name)} must be -1 (= model.dropout) or in [0, 1)")
        if not 0.0 <= self.drop_path < 1.0:
            raise SqueezeError(f"model.drop_path={self.drop_path} must be in [0, 1)")
        if self.loop_repeats < 0:
            raise SqueezeError(f"model.loop_repeats={self.loop_repeats} must be >= 0")
        if self.loop_repeats and not 0 <= self.loop_start < self.loop_end <= self.n_layer:
            raise SqueezeError(f"model.loop_start={self.loop_start}, model.loop_end={self.loop_end}: need 0 <= "
                               f"loop_start < loop_end <= model.n_layer={self.n_layer} when model.loop_repeats > 0")


@dataclass
class DataConfig:
    path: str = _f("", "token store directory (made by `squeeze prepare`)")
    budget_tokens: int = _f(0, "unique training tokens: a prefix of the store's fixed order; 0 = all")
    seed: int = _f(0, "data-order seed (separate from the init seed)")
    doc_shuffle: bool = _f(False, "reshuffle documents every epoch, so sequence boundaries move too")
    fitness_tokens: int = _f(0, "hold out whole training documents of the budget, drawn in a fixed seeded order "
                                "until they reach N tokens, as the fitness slice that fits ensemble and snapshot "
                                "weights (never trained on; they count in the budget); 0 = off")
    keep_mask: str = _f("", "keep-mask file from `squeeze prune`: train only on its kept documents inside the "
                        "budget; empty = all")

    def __post_init__(self) -> None:
        for name in ("budget_tokens", "seed"):  # seed: numpy's generators take no negative seed
            if getattr(self, name) < 0:
                raise SqueezeError(f"data.{name}={getattr(self, name)} must be >= 0")
        if self.fitness_tokens < 0 or (self.budget_tokens and self.fitness_tokens >= self.budget_tokens):
            raise SqueezeError(f"data.fitness_tokens={self.fitness_tokens} must be >= 0 and below data.budget_tokens")


@dataclass
class TrainConfig:
    optimizer: Literal["adamw", "muon"] = _f("adamw", "adamw, or muon for hidden matrices + adamw for the rest")
    lr: float = _f(2e-3, "peak AdamW learning rate")
    muon_lr: float = _f(0.02, "peak Muon learning rate (hidden matrices only, when optimizer=muon)")
    weight_decay: float = _f(0.1, "decoupled weight decay on matrices (0.1 = the standard recipe)")
    decay_embeddings: bool = _f(False, "also decay the embedding/head matrix")
    beta1: float = _f(0.9, "AdamW beta1")
    beta2: float = _f(0.95, "AdamW beta2")
    epochs: int = _f(1, "passes over the training budget; every sequence once per epoch")
    batch_size: int = _f(16, "sequences per optimizer step, summed over all processes (the global batch)")
    micro_batch: int = _f(0, "sequences per forward pass and process; smaller than batch_size / processes means "
                          "gradient accumulation; 0 = off (the whole per-process batch at once)")
    parallel: Literal["ddp", "fsdp"] = _f("ddp", "under torchrun: ddp (replicated model) or fsdp (FSDP2, sharded "
                                          "parameters for models that do not fit one device)")
    schedule: Literal["cosine", "wsd", "constant"] = _f("cosine", "learning-rate shape after warmup")
    warmup: float = _f(0.02, "warmup length as a fraction of all steps")
    decay_frac: float = _f(0.2, "wsd only: final fraction of steps spent decaying to min_lr")
    min_lr_frac: float = _f(0.1, "final learning rate / peak")
    grad_clip: float = _f(1.0, "clip the global grad norm to this; 0 = off")
    seed: int = _f(0, "init seed (model weights, dropout)")
    dtype: Literal["auto", "bf16", "fp32"] = _f("auto", "matmul precision; auto = bf16 on GPUs and on CPUs with "
                                                "native bf16 when compiled, else fp32 (resolved at the start and "
                                                "saved in config.json; squeeze/device/precision.py)")
    compile: Literal["auto", "on", "off"] = _f("auto", "torch.compile the model and loss: on, off, or auto = when "
                                               "the time it would save on the run's predicted eager time exceeds "
                                               "a cold compile (16 s taken on a CPU; resolved at the start and "
                                               "saved in config.json; squeeze/device/precision.py)")
    threads: int = _f(0, "torch intra-op threads; 0 = leave torch's default")
    eval_every: int = _f(0, "evaluate every N steps (0 = only at the end and at each epoch end)")
    eval_tokens: int = _f(0, "cap on validation tokens for periodic evals; 0 = all")
    epoch_evals: Literal["every", "doubling"] = _f("every", "which epoch ends are evaluated: every one, or epochs "
                                                   "1, 2, 4, 8, ... (a curve for a log axis, at a fraction of "
                                                   "the cost in short many-epoch runs)")
    final_eval_tokens: int = _f(0, "cap on validation tokens for the final eval; 0 = all (only the smoke preset, "
                                   "whose numbers mean nothing, caps it)")
    ckpt_every: int = _f(200, "save a resumable checkpoint every N steps (and at the end)")
    log_every: int = _f(10, "append train loss to metrics.jsonl every N steps")
    loop_from: float = _f(0.0, "fraction of steps after which the looped block runs its model.loop_repeats extra "
                          "passes (before: none); 0 = from the start")
    wd_schedule: Literal["constant", "inverse"] = _f("constant", "weight decay over training: constant, or inverse "
                                                     "to the lr multiplier so lr*wd stays at its peak value")
    ema_decay: float = _f(0.0, "EMA of the weights with this decay per step, evaluated at the end next to the raw "
                          "weights (model_ema.safetensors); 0 = off")
    ema_start: float = _f(0.0, "fraction of steps after which the EMA starts (from the weights of that step)")
    avg_last_epochs: int = _f(0, "average the weights of the last k epoch ends, evaluated at the end "
                              "(model_avg.safetensors); 0 = off")
    aug_mask_rate: float = _f(0.0, "fraction of input tokens replaced by train.aug_mask_id (targets untouched)")
    aug_replace_rate: float = _f(0.0, "fraction of input tokens replaced by uniform random tokens")
    aug_mask_id: int = _f(0, "token id masked inputs become (0 = <|endoftext|> in squeeze's tokenizer)")
    lr_cycles: int = _f(0, "cyclic schedule: the steps split into N equal cycles, each a cosine from the peak lr to "
                        "train.min_lr_frac (warmup in the first only; later cycles restart at the peak), with a "
                        "snapshotNNN.safetensors written at each cycle end; 0 or 1 = off (needs schedule=cosine)")
    wd_cycle_min: float = _f(1.0, "weight decay anti-correlated with the lr: this multiple of weight_decay at the peak "
                             "lr, 1.0 at the floor, linear in the lr between (Slowrun kept ~0.7-1.0); 1.0 = off")
    snapshot_noise: float = _f(0.0, "after each snapshot but the last, add Gaussian noise of std snapshot_noise x "
                               "the tensor's RMS to every weight matrix (seeded by train.seed and the cycle), so "
                               "the snapshots differ more; 0 = off (needs train.lr_cycles > 1)")
    mtp_weight: float = _f(0.3, "weight of the multi-token prediction loss (the mean over model.mtp_heads heads) "
                           "added to the next-token loss; used only when model.mtp_heads > 0")
    init: str = _f("", "start from these weights: a squeeze run directory or a local Hugging Face Llama/Qwen3 "
                   "folder; its architecture replaces the model section (applies at step 0 only)")
    log: Literal["none", "tensorboard", "wandb"] = _f("none", "mirror metrics.jsonl to TensorBoard (RUN_DIR/tb) or "
                                                      "Weights & Biases (offline unless WANDB_MODE=online)")

    def __post_init__(self) -> None:
        for name in ("lr", "muon_lr", "weight_decay", "warmup", "min_lr_frac", "grad_clip", "decay_frac", "seed"):
            if getattr(self, name) < 0:
                raise SqueezeError(f"train.{name}={getattr(self, name)} must be >= 0")
        if self.lr == 0:
            raise SqueezeError("train.lr must be > 0")
        if self.epochs < 1 or self.batch_size < 1:
            raise SqueezeError("train.epochs and train.batch_size must be >= 1")
        if self.warmup >= 1 or self.decay_frac > 1 or self.min_lr_frac > 1:
            raise SqueezeError("train.warmup must be < 1; train.decay_frac and train.min_lr_frac <= 1")
        if self.ckpt_every < 1 or self.log_every < 1 or self.eval_every < 0:
            raise SqueezeError("train.ckpt_every and train.log_every must be >= 1; train.eval_every >= 0")
        if self.threads < 0 or self.eval_tokens < 0 or self.final_eval_tokens < 0:
            raise SqueezeError("train.threads, train.eval_tokens and train.final_eval_tokens must be >= 0")
        if self.micro_batch < 0:
            raise SqueezeError(f"train.micro_batch={self.micro_batch} must be >= 0 (0 = no accumulation)")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise SqueezeError(f"train.beta1={self.beta1} and train.beta2={self.beta2} must be in [0, 1)")
        self._check_averaging_and_aug()

    def _check_averaging_and_aug(self) -> None:
        for name in ("loop_from", "ema_start", "ema_decay"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SqueezeError(f"train.{name}={getattr(self, name)} must be in [0, 1]")
        if self.ema_decay == 1.0:
            raise SqueezeError("train.ema_decay=1 would never move from the starting weights; use < 1")
        if self.avg_last_epochs < 0 or self.avg_last_epochs > self.epochs:
            raise SqueezeError(f"train.avg_last_epochs={self.avg_last_epochs} must be in [0, train.epochs="
                               f"{self.epochs}]")
        if self.aug_mask_rate < 0 or self.aug_replace_rate < 0 or self.aug_mask_rate + self.aug_replace_rate >= 1:
            raise SqueezeError(f"train.aug_mask_rate={self.aug_mask_rate} and train.aug_replace_rate="
                               f"{self.aug_replace_rate} must be >= 0 with a sum < 1")
        if self.aug_mask_id < 0:
            raise SqueezeError(f"train.aug_mask_id={self.aug_mask_id} must be >= 0")
        self._check_cycles()

    def _check_cycles(self) -> None:
        if self.lr_cycles < 0:
            raise SqueezeError(f"train.lr_cycles={self.lr_cycles} must be >= 0 (0 or 1 = one plain schedule)")
        if self.lr_cycles > 1 and self.schedule != "cosine":
            raise SqueezeError(f"train.lr_cycles={self.lr_cycles} needs train.schedule=cosine (each cycle is a cosine)")
        if self.lr_cycles > 1 and self.warmup * self.lr_cycles >= 1:
            raise SqueezeError(f"train.warmup={self.warmup} must be shorter than the first of train.lr_cycles="
                               f"{self.lr_cycles} cycles (warmup x lr_cycles < 1)")
        if not 0.0 < self.wd_cycle_min <= 1.0:
            raise SqueezeError(f"train.wd_cycle_min={self.wd_cycle_min} must be in (0, 1] (1 = off)")
        if self.wd_cycle_min < 1.0 and self.wd_schedule != "constant":
            raise SqueezeError("train.wd_cycle_min and train.wd_schedule=inverse both set the weight decay: choose one")
        if self.snapshot_noise < 0 or self.mtp_weight < 0:
            raise SqueezeError("train.snapshot_noise and train.mtp_weight must be >= 0")
        if self.snapshot_noise and self.lr_cycles < 2:
            raise SqueezeError("train.snapshot_noise needs train.lr_cycles > 1 (noise is added at cycle ends)")


@dataclass
class DistillConfig:
    teachers: str = _f("", "comma-separated teacher run directories, or weights files inside one (a snapshot "
                           "ensemble: RUN/snapshot001.safetensors,...); one = a model, several = their mixture; "
                           "empty = no distillation")
    alpha: float = _f(0.5, "weight of the KD term: (1-alpha)*CE + alpha*T^2*KL (Slowrun chains used 0.45-0.7)")
    temperature: float = _f(1.0, "softmax temperature T of teacher and student in the KD term (Slowrun: 1.0-1.2)")
    seq_count: int = _f(0, "sequence-level KD: teacher-generated sequences (seq_len+1 tokens each); 0 = off")
    seq_temperature: float = _f(1.0, "sampling temperature of the generated sequences")
    seq_fraction: float = _f(0.25, "share of each batch's rows that are generated sequences (real rows unchanged)")
    snapshot_alpha: float = _f(0.0, "distillation from the previous snapshot (train.lr_cycles > 1): from the second "
                               "cycle on the loss is (1-a)*CE + a*T^2*KL(p_snapshot^T || p^T), the teacher the "
                               "frozen weights of the last snapshot (Slowrun: ~0.45); 0 = off")
    snapshot_temperature: float = _f(1.2, "temperature T of the snapshot distillation (Slowrun: 1.2)")

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise SqueezeError(f"distill.alpha={self.alpha} must be in [0, 1]")
        if self.temperature <= 0 or self.seq_temperature <= 0:
            raise SqueezeError("distill.temperature and distill.seq_temperature must be > 0")
        if self.seq_count < 0 or not 0.0 <= self.seq_fraction < 1.0:
            raise SqueezeError("distill.seq_count must be >= 0 and distill.seq_fraction in [0, 1)")
        if self.seq_count and not self.teachers:
            raise SqueezeError("distill.seq_count needs distill.teachers (the models that generate the sequences)")
        if not 0.0 <= self.snapshot_alpha <= 1.0 or self.snapshot_temperature <= 0:
            raise SqueezeError(f"distill.snapshot_alpha={self.snapshot_alpha} must be in [0, 1] and "
                               f"distill.snapshot_temperature={self.snapshot_temperature} > 0")
        if self.snapshot_alpha and self.teachers:
            raise SqueezeError("distill.snapshot_alpha and distill.teachers: one teacher at a time (choose one)")

    def teacher_dirs(self) -> list[str]:
        return [t.strip() for t in self.teachers.split(",") if t.strip()]


@dataclass
class Config:
    recipe: str = _f("standard", "the recipe these values started from (for the record)")
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)

    def __post_init__(self) -> None:
        if self.distill.snapshot_alpha and self.train.lr_cycles < 2:
            raise SqueezeError("distill.snapshot_alpha needs train.lr_cycles > 1 (the teacher is the previous "
                               "cycle's snapshot)")

    def copy(self) -> "Config":
        return from_dict(to_dict(self))


SECTIONS = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig, "distill": DistillConfig}


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def _check_type(where: str, value: Any, tp: Any) -> Any:
    """Return `value` as type `tp` (ints are accepted for floats), or raise naming `where`."""
    origin = typing.get_origin(tp)
    if origin is Literal and isinstance(value, bool) and {"on", "off"} <= set(typing.get_args(tp)):
        value = "on" if value else "off"  # a switch that was a bool (config.json files of older runs)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise SqueezeError(f"{where}: {value!r} is not one of {', '.join(map(str, typing.get_args(tp)))}")
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:  # an integer past ~1.8e308 (JSON allows any length)
            value = math.inf
    if tp in (int, float) and isinstance(value, bool) or not isinstance(value, tp):
        raise SqueezeError(f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
    if tp is float and not math.isfinite(value):  # NaN passes every range check, so refuse it here
        raise SqueezeError(f"{where}: expected a finite number, got {value!r}")
    if tp is int and not -2**63 <= value < 2**63:  # torch, numpy and float arithmetic take 64-bit integers
        raise SqueezeError(f"{where}: {value} is out of the 64-bit integer range")
    return value


def _section_from_dict(cls: type, d: Any, where: str) -> Any:
    if not isinstance(d, dict):
        raise SqueezeError(f"{where}: expected an object, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in d:
        if key not in names:  # a key from a file may hold any character: a line break would split the line
            shown = key if key.isprintable() else repr(key)
            raise SqueezeError(f"{where}.{shown}: unknown field (known: {', '.join(sorted(names))})")
    return cls(**{k: _check_type(f"{where}.{k}", v, hints[k]) for k, v in d.items()})


def from_dict(d: Any, where: str = "") -> Config:
    """Build a Config from plain data, rejecting unknown keys and wrong types; `where` (a file) prefixes errors."""
    try:
        if not isinstance(d, dict):
            raise SqueezeError("expected a JSON object")
        unknown = set(d) - {"recipe", *SECTIONS}
        if unknown:
            first = sorted(unknown)[0]
            raise SqueezeError(f"{first if first.isprintable() else repr(first)}: unknown section (known: recipe, "
                               f"{', '.join(SECTIONS)})")
        kw = {name: _section_from_dict(cls, d.get(name, {}), name) for name, cls in SECTIONS.items()}
        return Config(recipe=_check_type("recipe", d.get("recipe", "standard"), str), **kw)
    except SqueezeError as e:
        if where:
            raise SqueezeError(f"{where}: {e}") from None
        raise


def parse_value(text: str, tp: Any, where: str) -> Any:
    """Parse a command-line string into field type `tp`."""
    low = text.lower()
    if tp is bool or typing.get_origin(tp) is Literal and {"on", "off"} <= set(typing.get_args(tp)):
        if low in ("1", "true", "yes", "on"):
            return True if tp is bool else "on"
        if low in ("0", "false", "no", "off"):
            return False if tp is bool else "off"
        if tp is bool:
            raise SqueezeError(f"{where}: expected true/false, got {text!r}")
    if tp in (int, float):
        try:
            return tp(text)
        except ValueError:
            raise SqueezeError(f"{where}: expected {tp.__name__}, got {text!r}") from None
    return _check_type(where, text, tp)


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply `section.field=value` strings (leading dashes allowed) to a copy of `cfg`."""
    d = to_dict(cfg)
    for item in overrides:
        key, sep, text = item.lstrip("-").partition("=")
        if not sep:
            raise SqueezeError(f"override {item!r}: expected --section.field=value")
        section, _, name = key.partition(".")
        if section not in SECTIONS:
            raise SqueezeError(f"{key}: unknown section {section!r} (known: {', '.join(SECTIONS)})")
        hints = typing.get_type_hints(SECTIONS[section])
        if name not in hints:
            raise SqueezeError(f"{key}: unknown field (known in {section}: {', '.join(sorted(hints))})")
        d[section][name] = parse_value(text, hints[name], key)
    return from_dict(d)


def with_saved_choices(asked: Config, saved: Config) -> Config:
    """`asked` with what the run fixed when it started filled in from its saved config: the vocabulary (0 = the
    store's), the dtype and compile (`auto` is resolved once, at the start). What remains must equal `saved` to
    resume."""
    asked = asked.copy()
    asked.model.vocab_size = asked.model.vocab_size or saved.model.vocab_size
    if asked.train.dtype == "auto":
        asked.train.dtype = saved.train.dtype
    if asked.train.compile == "auto":
        asked.train.compile = saved.train.compile
    return asked


def first_difference(asked: Config, saved: Config) -> str | None:
    """The first field where two configs differ, as `section.field: saved X, asked Y`, or None if equal."""
    da, db = to_dict(asked), to_dict(saved)
    for section, fields in da.items():
        pairs = fields.items() if isinstance(fields, dict) else [(None, fields)]
        for name, value in pairs:
            old = db[section] if name is None else db[section][name]
            if value != old:
                return f"{section if name is None else f'{section}.{name}'}: saved {old!r}, asked {value!r}"
    return None


def save(cfg: Config, path: str) -> None:
    write_json(path, to_dict(cfg))


def load(path: str) -> Config:
    return from_dict(read_json(path), where=str(path))


def describe_fields() -> str:
    """Help text for every field: `section.field (type, default): help`."""
    lines = []
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            tname = "|".join(typing.get_args(tp)) if typing.get_origin(tp) is Literal else tp.__name__
            lines.append(f"  --{section}.{f.name}  ({tname}, default {f.default!r})  {f.metadata['help']}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe_fields())
    print(json.dumps(to_dict(Config()), indent=2))
