"""`squeeze export RUN_DIR --format hf --out DIR`: a run's model as a folder `transformers` loads offline.

The folder holds config.json (LlamaForCausalLM, or Qwen3ForCausalLM for QK-norm models: squeeze/interop/hf.py says why),
model.safetensors (float32, the tied head stored once), generation_config.json and the run's own tokenizer
(tokenizer.json from its token store, tokenizer_config.json, special_tokens_map.json), so that

    AutoModelForCausalLM.from_pretrained(DIR); AutoTokenizer.from_pretrained(DIR)

give the same next-token logits as `squeeze` (checked in tests/test_export.py). transformers is not needed to
export, only to load. `<|endoftext|>` is the BOS, EOS and padding token; the tokenizer adds no BOS by itself.
"""
import json
from pathlib import Path

from safetensors.torch import save_file

from squeeze.data.store import TokenStore
from squeeze.data.tokenizer import EOT
from squeeze.errors import SqueezeError
from squeeze.interop.hf import hf_config, to_hf_state
from squeeze.io import atomic_save, atomic_write, make_dir, write_json
from squeeze.train.checkpoint import check_tokenizer, load_run

FORMATS = ("hf",)


def _tokenizer_files(out: Path, tok, eot: str, seq_len: int) -> None:
    atomic_write(out / "tokenizer.json", lambda f: f.write(tok.to_str()), mode="w")
    specials = {"bos_token": eot, "eos_token": eot, "pad_token": eot, "unk_token": None}
    write_json(out / "special_tokens_map.json", {k: v for k, v in specials.items() if v})
    write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", **specials, "model_max_length": seq_len,
        "add_bos_token": False, "add_eos_token": False, "clean_up_tokenization_spaces": False})


def export_run(run_dir: str | Path, out: str | Path, fmt: str = "hf", force: bool = False) -> dict:
    """Write the HF folder for `run_dir` into `out`; returns its config.json contents."""

    if fmt not in FORMATS:
        raise SqueezeError(f"--format {fmt}: unknown format (known: {', '.join(FORMATS)})")
    run_dir, out = Path(run_dir), Path(out)
    if (out / "config.json").exists() and not force:
        raise SqueezeError(f"{out}: already holds a model (config.json); pass --force to overwrite it")
    cfg, model, info = load_run(run_dir)
    store = TokenStore.open(cfg.data.path)
    check_tokenizer(run_dir, info, store)
    config = hf_config(cfg.model, store.eot_id)  # checks representability before anything is written
    tensors = to_hf_state(model.state_dict(), cfg.model)
    make_dir(out)
    atomic_save(out / "model.safetensors",  # fsync, rename, fsync the folder
                lambda tmp: save_file(tensors, tmp, metadata={"format": "pt", "squeeze_run": str(run_dir)}))
    _tokenizer_files(out, store.tokenizer, EOT, cfg.model.seq_len)
    write_json(out / "generation_config.json", {"bos_token_id": store.eot_id, "eos_token_id": store.eot_id,
                                                "pad_token_id": store.eot_id})
    write_json(out / "config.json", config)  # last: a folder with config.json is complete
    return config


def describe_export(out: str | Path, config: dict) -> str:
    arch = config["architectures"][0]
    return (f"{out}: {arch} ({config['num_hidden_layers']} layers x d {config['hidden_size']}, vocabulary "
            f"{config['vocab_size']:,}); load it with transformers: AutoModelForCausalLM.from_pretrained("
            f"{json.dumps(str(out))})")
