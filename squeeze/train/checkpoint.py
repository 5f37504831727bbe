"""Run directories on disk: weights (safetensors), resumable state (torch.load weights_only), loading a run.

A run directory holds `config.json`, `run.json` (git commit, versions, tokenizer fingerprint), `metrics.jsonl`,
`model.safetensors`, `state.pt` and, once finished, `token_losses.safetensors` (the final eval's loss per token,
which an ensemble's mixture reads instead of running the model again) and `summary.json`. Nothing here unpickles:
safetensors for weights and `weights_only=True` for optimizer state. Both files carry a sha256 of their own content
(see squeeze/train/digest.py) that every load checks, so a truncated or corrupted checkpoint is named, never loaded.
Exercised by tests/test_trainer.py (resume equality) and tests/test_faults.py (corruption).
"""
import io
import json
import subprocess
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model, save_file

from squeeze import config as config_mod
from squeeze.errors import SqueezeError, first_line
from squeeze.io import atomic_save, atomic_write, read_json
from squeeze.model import GPT
from squeeze.runs.files import CONFIG, METRICS, RUN, STATE, SUMMARY, TOKEN_LOSSES, WEIGHTS  # noqa: F401  (ckpt.X)
from squeeze.train.digest import DIGEST_KEY, WEIGHTS_KEY, state_digest


def git_commit() -> str:
    """The squeeze source's commit (with '+dirty' for local changes), or 'unknown' outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + ("+dirty" if dirty else "")) if sha else "unknown"


def _unique_tensors(model: GPT) -> dict:
    """The state dict with each shared (tied) tensor once, under its first name; load_model maps it back."""
    seen, out = set(), {}
    for name, t in model.state_dict().items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
        if key not in seen:
            seen.add(key)
            out[name] = t.detach().contiguous()
    return out


def save_weights(model: GPT, run_dir: Path) -> None:
    """Atomically write model.safetensors (tied tensors stored once) with the sha256 of its tensors in its header."""
    save_tensors(_unique_tensors(model), run_dir / WEIGHTS)


def save_tensors(tensors: dict, path: Path) -> None:
    """Atomically write a weights file with the sha256 of its tensors in its header (`verify_weights` checks it)."""
    metadata = {WEIGHTS_KEY: state_digest(dict(sorted(tensors.items())))}
    atomic_save(path, lambda tmp: save_file(tensors, tmp, metadata=metadata), errors=(OSError, SafetensorError))


def verify_weights(path: Path) -> None:
    """Recompute the sha256 of the file's tensors and compare it with the one in its header (files written
    before checksums existed have none and are only checked by safetensors' own header/size checks)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            expected = (f.metadata() or {}).get(WEIGHTS_KEY)
            if expected is None:
                return
            tensors = {k: f.get_tensor(k) for k in sorted(f.keys())}
    except (SafetensorError, OSError, RuntimeError) as e:
        raise SqueezeError(f"{path}: cannot load weights ({first_line(e)})") from None
    if state_digest(tensors) != expected:
        raise SqueezeError(f"{path}: checksum mismatch (corrupted weights); retrain, or --resume from state.pt")


def load_weights(model: GPT, path: Path) -> None:
    verify_weights(path)
    try:
        missing, unexpected = load_model(model, str(path), strict=False, device=str(next(model.parameters()).device))
    except (SafetensorError, OSError, RuntimeError) as e:
        raise SqueezeError(f"{path}: cannot load weights ({first_line(e)})") from None
    if missing or unexpected:
        raise SqueezeError(f"{path}: weights do not match the config (missing {missing[:3]}, unexpected "
                           f"{unexpected[:3]})")


def _header(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        return f.metadata() or {}


def save_token_losses(run_dir: Path, nll_N: torch.Tensor, span: str, computed_on: str) -> None:
    """token_losses.safetensors: the final eval's loss on each validation token, tied to the tokens it scored
    (`span`: squeeze.evaluation.loss.span_digest), to the weights that scored them (model.safetensors's digest)
    and to how (`computed_on`: device type and dtype, e.g. "cpu/fp32"). The ties are a JSON tensor of their own,
    under the file's checksum: the header keeps one metadata key, so the file is the same bytes on every write."""
    tied = {"span_sha256": span, "weights_sha256": _header(run_dir / WEIGHTS).get(WEIGHTS_KEY, ""),
            "computed_on": computed_on}
    save_tensors({"nll": nll_N.float().contiguous().cpu(), "tied_to": _json_tensor(tied)}, run_dir / TOKEN_LOSSES)


def _json_tensor(d: dict) -> torch.Tensor:
    return torch.tensor(list(json.dumps(d, sort_keys=True).encode()), dtype=torch.uint8)


def read_token_losses(run_dir: str | Path, span: str, computed_on: str) -> torch.Tensor | None:
    """A run's saved per-token losses, if it has them for exactly these tokens, its current weights and this
    device type and dtype; None otherwise (a run from before the file existed, another token store or slice, a
    damaged file): then the caller runs the model instead, so nothing is lost."""
    run_dir = Path(run_dir)
    try:
        verify_weights(run_dir / TOKEN_LOSSES)
        with safe_open(str(run_dir / TOKEN_LOSSES), framework="pt") as f:
            tied, nll_N = json.loads(bytes(f.get_tensor("tied_to").tolist())), f.get_tensor("nll")
        want = {"span_sha256": span, "weights_sha256": _header(run_dir / WEIGHTS).get(WEIGHTS_KEY),
                "computed_on": computed_on}
    except (SafetensorError, OSError, SqueezeError, ValueError):
        return None
    return nll_N if tied == want else None


def save_state(run_dir: Path, state: dict) -> None:
    """Atomically write state.pt with the sha256 of its content under "sha256" (checked by load_state)."""
    state = {**state, DIGEST_KEY: state_digest(state)}
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(run_dir / STATE, lambda f: f.write(buf.getvalue()))


def load_state(run_dir: Path) -> dict:
    path = run_dir / STATE
    try:
        with warnings.catch_warnings():  # a foreign file's pickle-protocol warning would break the one-line error
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SqueezeError(f"{path}: no checkpoint to resume from") from None
    except Exception as e:  # a truncated or foreign file: name it, never load it silently
        raise SqueezeError(f"{path}: corrupted checkpoint ({type(e).__name__})") from None
    if not isinstance(state, dict):
        raise SqueezeError(f"{path}: not a squeeze checkpoint (a {type(state).__name__}, not a dict)")
    expected = state.pop(DIGEST_KEY, None)  # None: written before checksums existed
    if expected is not None and state_digest(state) != expected:
        raise SqueezeError(f"{path}: checksum mismatch (corrupted checkpoint); it cannot be resumed")
    return state


def check_tokenizer(run_dir: Path, info: dict, store) -> None:
    """A checkpoint only makes sense with the token store whose tokenizer it was trained on."""
    if info.get("tokenizer_fingerprint") not in (None, store.fingerprint):
        raise SqueezeError(f"{run_dir}: checkpoint and token store {store.root} come from different tokenizers")


def load_run(run_dir: str | Path, device: str = "cpu", weights: str = WEIGHTS) -> tuple[config_mod.Config, GPT, dict]:
    """(config, model with its weights in eval mode, run.json) of a run directory; `weights` names the file
    (model.safetensors = the raw weights; model_ema / model_avg.safetensors = the averages of
    squeeze.train.averaging)."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists():
        raise SqueezeError(f"{run_dir}: not a run directory (no {CONFIG})")
    cfg = config_mod.load(str(run_dir / CONFIG))
    if not (run_dir / weights).exists():
        raise SqueezeError(f"{run_dir}: no {weights} yet (the run has not saved it)")
    model = GPT(cfg.model).to(device)
    load_weights(model, run_dir / weights)
    info = read_json(run_dir / RUN) if (run_dir / RUN).exists() else {}
    return cfg, model.eval(), info
