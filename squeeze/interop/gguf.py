"""GGUF in: `squeeze import FILE.gguf --out DIR` and `squeeze run --init FILE.gguf` (the optional extra
`pip install 'squeeze[gguf]'`: the `gguf` reader and `accelerate`, which transformers' GGUF loader needs).

transformers reads the file (its architecture, its tokenizer, its tensors dequantized to fp32); squeeze writes what
it read as a plain HF folder: config.json, model.safetensors (the state dict written directly, the tied head left
out: `save_pretrained` refuses a model loaded from GGUF) and tokenizer.json (the fast tokenizer). That folder is what
`--init` reads (squeeze/interop/hf.py), so the mapping into squeeze's GPT is the one tests/test_init.py checks.
Only the architectures squeeze's GPT is exactly (llama, qwen3) are imported; any other is refused by name, before
transformers is asked. gguf.json in the folder records the source and its sha256, so a study imports a file once.
Exercised by tests/test_gguf.py (a tiny Llama GGUF written with the `gguf` package's writer).
"""
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from squeeze.errors import SqueezeError, first_line
from squeeze.interop.hf import SUPPORTED_TYPES
from squeeze.io import make_dir, read_json, sha256_file, write_json

RECORD = "gguf.json"  # beside the imported folder's files: the .gguf it came from and its sha256
INSTALL = "pip install 'squeeze[gguf]'"


def _gguf_module():
    try:
        import gguf  # optional extra
    except ImportError:
        raise SqueezeError(f"reading GGUF files needs the gguf package: {INSTALL}") from None
    return gguf


def architecture(path: Path) -> str:
    """general.architecture of a GGUF file; an unreadable or corrupt file is one SqueezeError line."""
    if not path.is_file():
        raise SqueezeError(f"{path}: no such GGUF file")
    try:
        reader = _gguf_module().GGUFReader(str(path))
        field = reader.fields["general.architecture"]
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    except SqueezeError:
        raise
    except Exception as e:  # the reader raises ValueError, KeyError, struct or numpy errors on a damaged file
        raise SqueezeError(f"{path}: not a readable GGUF file ({first_line(e)})") from None


def import_gguf(path: str | Path, out: str | Path, sha256: str | None = None) -> Path:
    """Write the HF folder `out` (config.json, model.safetensors, tokenizer.json, gguf.json) from a Llama or Qwen3
    GGUF file; returns `out`."""
    path, out = Path(path), Path(out)
    arch = architecture(path)
    if arch not in SUPPORTED_TYPES:
        raise SqueezeError(f"{path}: GGUF architecture {arch!r} is not supported (squeeze imports "
                           f"{', '.join(SUPPORTED_TYPES)})")
    _gguf_module()
    try:
        import accelerate  # noqa: F401  optional extra: transformers' GGUF loader needs it
        from transformers import AutoModelForCausalLM, AutoTokenizer  # optional extra
    except ImportError:
        raise SqueezeError(f"importing GGUF needs transformers and accelerate: {INSTALL}") from None
    print(f"import: reading {path} with transformers (dequantized to fp32)", file=sys.stderr, flush=True)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    except Exception as e:  # transformers raises many kinds on a file it cannot convert
        raise SqueezeError(f"{path}: transformers cannot load this GGUF file ({first_line(e)})") from None
    make_dir(out)
    model.config.to_json_file(str(out / "config.json"))
    state = model.state_dict()
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)  # the embedding is the head
    save_file({k: v.detach().float().contiguous().clone() for k, v in state.items()}, str(out / "model.safetensors"),
              metadata={"format": "pt"})
    tok.backend_tokenizer.save(str(out / "tokenizer.json"))
    write_json(out / RECORD, {"source": str(path.resolve()), "sha256": sha256 or sha256_file(path),
                              "architecture": arch})
    return out


def import_once(path: Path, out: Path, sha256: str | None) -> Path:
    """`out` holding `path` imported: reused when its gguf.json names the same sha256, imported when absent; a
    folder imported from another file is refused."""
    if (out / RECORD).exists():
        had = read_json(out / RECORD)
        if had.get("sha256") != sha256:
            raise SqueezeError(f"{out}: holds {had.get('source')} imported (sha256 {str(had.get('sha256'))[:12]}...), "
                               f"not {path}; use another --out")
        return out
    return import_gguf(path, out, sha256)
