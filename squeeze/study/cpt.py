"""Continued pretraining: `squeeze run --init BASE` runs the whole study from a pretrained base.

BASE is a squeeze run directory, a local Hugging Face Llama/Qwen3 folder or a .gguf file (imported once into
OUT/base/ by squeeze/interop/gguf.py). Every run of the study names the base in `train.init` and trains the base's
architecture (squeeze/train/init.py `architecture`), so each starts from its weights; the domain corpus is prepared
with the base's tokenizer. The sizes a study varies are fixed to the base's (`fixed_preset`): the base is one size,
so the report's parameter-scaling limits read "not applicable: one base". The study step `base`
(squeeze/study/steps/start.py) scores the base itself on the domain's validation split: the table's first row.
study.json keeps `record()`, and a re-run with another base is refused (squeeze/study/run.py `check_out`).
Exercised by tests/test_cpt.py.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from squeeze import config as config_mod
from squeeze.config import ModelConfig
from squeeze.data.tokenizer import eot_id, load_tokenizer, token_byte_lengths
from squeeze.errors import SqueezeError
from squeeze.interop import gguf
from squeeze.io import sha256_file
from squeeze.presets import Preset
from squeeze.train import init as init_mod

IMPORTED = "base"  # OUT/base/: a .gguf base as the HF folder the runs start from
NOT_APPLICABLE = "not applicable: one base"  # the parameter-scaling rows of a study from a base


@dataclass(frozen=True)
class StudyBase:
    """The base every run starts from, as the study plans with it."""
    given: str  # what --init named (a .gguf file, a run directory or an HF folder)
    path: str  # what the runs' train.init reads: the directory itself, or OUT/base/ for a .gguf
    kind: str  # "squeeze run", "hf llama", "hf qwen3"
    model: ModelConfig  # its architecture, the vocabulary fitted to the token store once it is known
    weights_sha256: str  # of the file --init named (the .gguf), else of the weights the runs read
    tokenizer_fingerprint: str
    tokenizer_file: str  # the tokenizer.json the domain corpus is prepared with
    max_positions: int  # the longest context it was trained at (a run's seq_len, an HF max_position_embeddings)
    tokenizer_vocab: int  # the token store's vocabulary once prepared with its tokenizer

    @property
    def size(self) -> tuple[int, int]:
        return self.model.n_layer, self.model.d_model

    def record(self) -> dict:
        """What study.json keeps: a re-run with another base is refused on the sha256."""
        return {"path": str(Path(self.given).resolve()), "kind": self.kind, "sha256": self.weights_sha256,
                "tokenizer_fingerprint": self.tokenizer_fingerprint, "n_layer": self.model.n_layer,
                "d_model": self.model.d_model}


def open_base(given: str, out: Path) -> StudyBase:
    """Read the base (a .gguf is imported into OUT/base/ first, once) and check that its tokenizer can measure
    bits per byte: byte-level BPE with an end-of-text token. One SqueezeError line for anything else."""
    path, sha = Path(given), None
    if path.suffix.lower() == ".gguf":
        sha = sha256_file(path) if path.is_file() else None
        path = gguf.import_once(path, Path(out) / IMPORTED, sha)
    src = init_mod.read_source(path)
    try:
        tok = load_tokenizer(src.tokenizer_file)
        token_byte_lengths(tok)
        eot_id(tok)
    except SqueezeError as e:
        raise SqueezeError(f"--init {given}: its tokenizer cannot be used ({e}); squeeze needs a byte-level BPE "
                           "tokenizer with <|endoftext|>") from None
    positions = src.max_positions
    if src.kind == "squeeze run":
        positions = config_mod.load(str(path / "config.json")).model.seq_len
    return StudyBase(given, str(path), src.kind, src.model, sha or src.weights_sha256, src.tokenizer_fingerprint,
                     src.tokenizer_file, positions, tok.get_vocab_size(with_added_tokens=True))


def fitted(base: StudyBase, store_vocab: int) -> StudyBase:
    """The base with its vocabulary fitted to the token store's, as the trainer fits it (padding rows dropped)."""
    if base.model.vocab_size == store_vocab:
        return base
    if base.model.vocab_size < store_vocab:
        raise SqueezeError(f"--init {base.given}: embedding has {base.model.vocab_size} rows but the token store's "
                           f"vocabulary is {store_vocab}")
    return dataclasses.replace(base, model=dataclasses.replace(base.model, vocab_size=store_vocab))


def fixed_preset(preset: Preset, base: StudyBase) -> Preset:
    """The preset with every size the study varies fixed to the base's, and its vocabulary the base's. A preset
    whose context is longer than the base was trained at contradicts the base and is refused."""
    if base.max_positions and preset.seq_len > base.max_positions:
        raise SqueezeError(f"--init {base.given}: --preset {preset.name} trains a context of {preset.seq_len} tokens, "
                           f"longer than the base's {base.max_positions}; use a preset whose seq_len fits the base")
    return one_size(preset, base.size, base.model.n_head, base.tokenizer_vocab)


def one_size(preset: Preset, size: tuple[int, int], n_head: int, vocab_size: int) -> Preset:
    """`preset` with every size its study varies set to `size` (a base's), and that vocabulary."""
    spec = dataclasses.replace(preset.study, std_sizes=(size,), reg_sizes=(size,), main=size, ensemble_sizes=(size,))
    return dataclasses.replace(preset, vocab_size=vocab_size, n_layer=size[0], d_model=size[1], n_head=n_head,
                               study=spec)


def sizes_note(base: StudyBase) -> str:
    return (f"every run starts from the base {base.given} ({base.kind}, {base.model.n_layer} x {base.model.d_model}); "
            "the sizes the study varies are fixed to the base's, so parameter-scaling rows are not applicable")
