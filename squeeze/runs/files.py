"""The names of the files in a run directory, in one place: the trainer writes them, everything else reads them.

A run directory holds `config.json` (the config, with `auto` choices resolved), `run.json` (git commit, versions,
tokenizer fingerprint, the dtype and why), `metrics.jsonl`, `model.safetensors`, `state.pt` (everything resume
needs) and, once finished, `summary.json`; with weight averaging also `model_ema.safetensors`,
`model_avg.safetensors` and `epochNNN.safetensors`. Imports nothing, so any layer may use it.
"""
CONFIG = "config.json"
RUN = "run.json"
METRICS = "metrics.jsonl"
WEIGHTS = "model.safetensors"
STATE = "state.pt"
SUMMARY = "summary.json"
EMA_WEIGHTS = "model_ema.safetensors"
AVG_WEIGHTS = "model_avg.safetensors"
ENSEMBLE = "ensemble.json"  # beside an ensemble's members: their evaluation (`squeeze ensemble`, the study)
CHAIN = "chain.json"  # beside a distillation chain's members
RETENTION = "retention.json"  # in a student's run directory

# `squeeze eval --weights` names -> files
WEIGHT_FILES = {"raw": WEIGHTS, "ema": EMA_WEIGHTS, "avg": AVG_WEIGHTS}


def epoch_weights(epoch: int) -> str:
    """The weights saved at the end of `epoch` for last-k averaging."""
    return f"epoch{epoch:03d}.safetensors"
