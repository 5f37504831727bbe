"""Continued pretraining: `squeeze train --init PATH` starts from a squeeze run or a local HF Llama/Qwen3 folder.

The source fixes the architecture: its model section replaces the recipe's (a note lists every field that
changed), except the training choices the recipe keeps (`RECIPE_FIELDS`: the context, dropout, stochastic depth, a
looped block and multi-token heads); the parameters those options add (a looped block's injection scalars, MTP heads)
start as a fresh model's, so a looped block starts as the plain one. The source also fixes the
tokenizer: the token store must have been prepared with it (`squeeze prepare --tokenizer PATH/tokenizer.json`),
checked by fingerprint. Everything else (weight decay, epochs, schedule, ensembles, distillation) is the recipe's.
The weights load once, at step 0; a resumed run takes its weights from its own checkpoint and never reads the
source again, so it stays bit-identical to one that never stopped. run.json records the source, its kind and the
sha256 of its weights. Exercised by tests/test_init.py.
"""
import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from squeeze.config import Config, ModelConfig
from squeeze.data.store import TokenStore
from squeeze.data.tokenizer import load_tokenizer, tokenizer_fingerprint
from squeeze.errors import SqueezeError, first_line
from squeeze.interop.hf import read_hf_folder
from squeeze.io import read_json, sha256_file
from squeeze.model import GPT
from squeeze.train.checkpoint import WEIGHTS, load_run

# the recipe's even with --init: they do not change the source's weights (what they add starts fresh)
RECIPE_FIELDS = ("seq_len", "dropout", "attn_dropout", "resid_dropout", "drop_path", "loop_start", "loop_end",
                 "loop_repeats", "loop_inject", "mtp_heads")
OPTION_PARAMS = (".l_res", ".l_x0")  # suffixes of the parameters a looped block's injection adds


@dataclass
class InitSource:
    path: str
    kind: str  # "squeeze run", "hf llama" or "hf qwen3"
    model: ModelConfig
    state: dict[str, torch.Tensor]
    tokenizer_fingerprint: str
    weights_sha256: str
    tokenizer_file: str  # what `squeeze prepare --tokenizer` should be given for a matching store
    max_positions: int = 0  # the HF model's max_position_embeddings (0: a squeeze run, no limit recorded)

    def record(self) -> dict:
        """What run.json keeps about the source."""
        return {"path": str(Path(self.path).resolve()), "kind": self.kind, "weights_sha256": self.weights_sha256,
                "tokenizer_fingerprint": self.tokenizer_fingerprint}


def _sha256_files(files: list[Path]) -> str:
    if len(files) == 1:
        return sha256_file(files[0])
    return hashlib.sha256("".join(sha256_file(f) for f in files).encode()).hexdigest()


def _from_run(path: Path) -> InitSource:
    cfg, model, info = load_run(path)
    if not info.get("tokenizer_fingerprint"):
        raise SqueezeError(f"{path}: run.json records no tokenizer fingerprint; cannot check the token store")
    return InitSource(str(path), "squeeze run", cfg.model, model.state_dict(), info["tokenizer_fingerprint"],
                      sha256_file(path / WEIGHTS), str(Path(cfg.data.path) / "tokenizer.json"))


def _from_hf(path: Path) -> InitSource:
    if not (path / "tokenizer.json").is_file():
        raise SqueezeError(f"{path}: no tokenizer.json (squeeze needs the fast tokenizer file to build its store)")
    model, state, files = read_hf_folder(path)
    positions = int(read_json(path / "config.json").get("max_position_embeddings") or 0)
    kind = "hf qwen3" if model.qk_norm else "hf llama"
    return InitSource(str(path), kind, model, state, tokenizer_fingerprint(load_tokenizer(path / "tokenizer.json")),
                      _sha256_files(files), str(path / "tokenizer.json"), positions)


def read_source(path: str | Path) -> InitSource:
    """A squeeze run directory (config.json + run.json) or an HF folder (config.json with a model_type)."""
    p = Path(path)
    if p.suffix.lower() == ".gguf":
        raise SqueezeError(f"--init {path}: a GGUF file; import it first with `squeeze import {path} --out DIR` and "
                           "start from DIR (`squeeze run --init` imports it itself)")
    if not (p / "config.json").is_file():
        raise SqueezeError(f"--init {path}: not a squeeze run or a Hugging Face model folder (no config.json)")
    return _from_run(p) if (p / "run.json").is_file() else _from_hf(p)


def fit_vocab(src: InitSource, store_vocab: int, say) -> None:
    """HF checkpoints often pad the embedding past the tokenizer (Qwen: 151,936 rows for 151,669 tokens); the
    padding rows are never a target, so they are dropped. A table smaller than the store cannot be used."""
    V = src.model.vocab_size
    if V == store_vocab:
        return
    if V < store_vocab:
        raise SqueezeError(f"--init {src.path}: embedding has {V} rows but the token store's vocabulary is "
                           f"{store_vocab}")
    say(f"init: dropping {V - store_vocab} padding rows of the embedding ({V} -> {store_vocab}, the tokenizer's size)")
    for name in ("embed.weight", "head.weight"):
        src.state[name] = src.state[name][:store_vocab]
    src.model = dataclasses.replace(src.model, vocab_size=store_vocab)


def resolve(cfg: Config, say) -> tuple[Config, InitSource]:
    """The config with the source's architecture, and the source; checks the token store's tokenizer."""
    src = read_source(cfg.train.init)
    if cfg.data.path:
        store = TokenStore.open(cfg.data.path)
        if store.fingerprint != src.tokenizer_fingerprint:
            raise SqueezeError(f"--init {src.path}: token store {cfg.data.path} was made with a different tokenizer; "
                               f"prepare it with `squeeze prepare --tokenizer {src.tokenizer_file}`")
        fit_vocab(src, store.vocab_size, say)
    out = cfg.copy()
    out.model = architecture(src.model, cfg.model)
    changed = [f"{f.name} {getattr(cfg.model, f.name)!r} -> {getattr(out.model, f.name)!r}"
               for f in dataclasses.fields(out.model) if f.name != "vocab_size"
               and getattr(cfg.model, f.name) != getattr(out.model, f.name)]
    say(f"init: weights from {src.kind} {src.path}; its architecture replaces the model section"
        + (f" ({', '.join(changed)})" if changed else ""))
    if src.max_positions and out.model.seq_len > src.max_positions:
        say(f"init: model.seq_len={out.model.seq_len} exceeds the source's max_position_embeddings "
            f"{src.max_positions}; RoPE extends, but positions past it are untrained")
    return out, src


def architecture(source: ModelConfig, recipe: ModelConfig) -> ModelConfig:
    """The model a run from `source` trains: the source's architecture with the recipe's RECIPE_FIELDS. A looped
    block placed as the second half of the recipe's depth (the `best` recipe's) is placed for the source's."""
    fields = {k: getattr(recipe, k) for k in RECIPE_FIELDS}
    if recipe.loop_end and (recipe.loop_start, recipe.loop_end) == (recipe.n_layer // 2, recipe.n_layer):
        fields.update(loop_start=source.n_layer // 2, loop_end=source.n_layer)
    return dataclasses.replace(source, **fields)


def apply(model: torch.nn.Module, src: InitSource) -> None:
    """Copy the source's weights into a freshly built model (in place: optimizers keep their parameters). Only
    the parameters a recipe option adds (OPTION_PARAMS, the MTP heads) may be missing from the source."""
    try:
        missing, unexpected = model.load_state_dict(src.state, strict=False)
    except RuntimeError as e:
        raise SqueezeError(f"--init {src.path}: weights do not fit the model ({first_line(e)})") from None
    missing = [k for k in missing if not k.endswith(OPTION_PARAMS) and not k.startswith("mtp.")]
    if missing or unexpected:
        raise SqueezeError(f"--init {src.path}: weights do not fit the model (missing {missing[:3]}, unexpected "
                           f"{unexpected[:3]})")


def load(path: str | Path, store_vocab: int, model_cfg: ModelConfig | None = None, seq_len: int | None = None,
         say=lambda *_: None) -> GPT:
    """A model holding the source's weights, to score a base as it is: built from `model_cfg`, or from the source's
    own architecture (at `seq_len` when given), after fitting the source's embedding to a store of `store_vocab`."""
    src = read_source(path)
    fit_vocab(src, store_vocab, say)
    model = GPT(model_cfg or dataclasses.replace(src.model, seq_len=seq_len or src.model.seq_len))
    apply(model, src)
    return model


def keep_source_architecture(asked: Config, saved: Config) -> Config:
    """On resume, the asked config's model section is the recipe's; the saved one is the source's. Compare the
    rest: take the saved architecture, keep the asked recipe fields so a changed seq_len is still refused."""
    out = asked.copy()
    out.model = architecture(saved.model, asked.model)
    return out
