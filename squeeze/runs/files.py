"""The names of the files in a run directory, in one place: the trainer writes them, everything else reads them.

A run directory holds `config.json` (the config, with `auto` choices resolved), `run.json` (git commit, versions,
tokenizer fingerprint, the dtype and why), `metrics.jsonl`, `model.safetensors`, `state.pt` (everything resume
needs) and, once finished, `summary.json`; with weight averaging also `model_ema.safetensors`,
`model_avg.safetensors` and `epochNNN.safetensors`; with a cyclic schedule (train.lr_cycles) `snapshotNNN.safetensors`.
A finished run also keeps `token_losses.safetensors`: its final eval's loss on each validation token.
Imports nothing, so any layer may use it.
"""
CONFIG = "config.json"
RUN = "run.json"
METRICS = "metrics.jsonl"
WEIGHTS = "model.safetensors"
STATE = "state.pt"
SUMMARY = "summary.json"
EMA_WEIGHTS = "model_ema.safetensors"
AVG_WEIGHTS = "model_avg.safetensors"
TOKEN_LOSSES = "token_losses.safetensors"  # the final eval's per-token losses: an ensemble's mixture reads them
ENSEMBLE = "ensemble.json"  # beside an ensemble's members: their evaluation (`squeeze ensemble`, the study)
CHAIN = "chain.json"  # beside a distillation chain's members
RETENTION = "retention.json"  # in a student's run directory
SNAPSHOT_ENSEMBLE = "snapshot_ensemble.json"  # in a cyclic run's directory: its snapshots evaluated as an ensemble

# `squeeze eval --weights` names -> files
WEIGHT_FILES = {"raw": WEIGHTS, "ema": EMA_WEIGHTS, "avg": AVG_WEIGHTS}


def epoch_weights(epoch: int) -> str:
    """The weights saved at the end of `epoch` for last-k averaging."""
    return f"epoch{epoch:03d}.safetensors"


def snapshot_weights(cycle: int) -> str:
    """The weights at the end of cycle `cycle` (1-based) of train.lr_cycles: the snapshot-ensemble members."""
    return f"snapshot{cycle:03d}.safetensors"


def snapshot_cycle(name: str) -> int | None:
    """The cycle of a `snapshot_weights` file name, or None for any other name."""
    stem = name.removeprefix("snapshot").removesuffix(".safetensors")
    ok = name.startswith("snapshot") and name.endswith(".safetensors") and stem.isdigit() and len(stem) >= 3
    return int(stem) if ok else None
