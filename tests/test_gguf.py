"""GGUF in: a tiny Llama GGUF written here with the `gguf` package's writer (no network, no big file) is imported
as an HF folder whose squeeze model gives transformers' logits on the same file, and is a study's base; a corrupt
file and an unsupported architecture are refused in one line."""
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from squeeze.cli import main
from squeeze.data.corpus import bible_documents
from squeeze.data.store import TokenStore, prepare_store
from squeeze.model import GPT
from squeeze.train import init as init_mod

gguf = pytest.importorskip("gguf", reason="GGUF tests need the gguf extra")
transformers = pytest.importorskip("transformers", reason="GGUF tests load the file with transformers")
pytest.importorskip("accelerate", reason="transformers' GGUF loader needs accelerate")


def gguf_tokens(tokenizer_json: Path) -> tuple[list[str], list[str]]:
    """(tokens by id, merges) of a squeeze byte-level BPE tokenizer.json, as GGUF's gpt2 tokenizer lists them."""
    tj = json.loads(tokenizer_json.read_text())
    tokens = [""] * (max(tj["model"]["vocab"].values()) + 1)
    for t, i in tj["model"]["vocab"].items():
        tokens[i] = t
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    return tokens, merges


def write_tiny_gguf(path: Path, tokenizer_json: Path, arch: str = "llama", tied: bool = False) -> None:
    """A 2-layer d 32 Llama (4 heads, 2 key/value heads) with random weights, norm gains random too."""
    tokens, merges = gguf_tokens(tokenizer_json)
    V, D, L, H, KV, F = len(tokens), 32, 2, 4, 2, 64
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("tiny")
    w.add_context_length(64)
    w.add_embedding_length(D)
    w.add_block_count(L)
    w.add_feed_forward_length(F)
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(V)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_merges(merges)
    w.add_token_types([3 if t == "<|endoftext|>" else 1 for t in tokens])
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)
    rng = np.random.default_rng(0)
    r = lambda *shape: (0.2 * rng.standard_normal(shape)).astype(np.float32)  # noqa: E731
    gain = lambda d: (1 + 0.3 * rng.standard_normal(d)).astype(np.float32)  # noqa: E731
    w.add_tensor("token_embd.weight", r(V, D))
    w.add_tensor("output_norm.weight", gain(D))
    if not tied:
        w.add_tensor("output.weight", r(V, D))
    for i in range(L):
        p = f"blk.{i}."
        for name, t in (("attn_norm", gain(D)), ("ffn_norm", gain(D)), ("attn_q", r(D, D)),
                        ("attn_k", r(KV * D // H, D)), ("attn_v", r(KV * D // H, D)), ("attn_output", r(D, D)),
                        ("ffn_gate", r(F, D)), ("ffn_up", r(F, D)), ("ffn_down", r(D, F))):
            w.add_tensor(f"{p}{name}.weight", t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    """A store of 40 Bible pieces (its tokenizer goes into the GGUF) and the tiny GGUF file."""
    root = tmp_path_factory.mktemp("gguf")
    prepare_store(list(itertools.islice(bible_documents(), 40)), root / "store", vocab_size=300, val_fraction=0.1)
    write_tiny_gguf(root / "tiny.gguf", root / "store" / "tokenizer.json")
    return root


@pytest.mark.parametrize("tied", [False, True])
def test_import_gives_transformers_logits(pieces, tmp_path, tied, capsys):
    path = pieces / "tiny.gguf"
    if tied:
        path = tmp_path / "tied.gguf"
        write_tiny_gguf(path, pieces / "store" / "tokenizer.json", tied=True)
    assert main(["import", str(path), "--out", str(tmp_path / "hf")]) == 0
    assert "model.safetensors" in capsys.readouterr().out
    src = init_mod.read_source(tmp_path / "hf")
    assert src.kind == "hf llama" and src.model.tie_embeddings == tied
    model = GPT(src.model)
    init_mod.apply(model, src)
    theirs = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                               dtype=torch.float32).eval()
    x_BT = torch.randint(0, src.model.vocab_size, (2, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x_BT), theirs(x_BT).logits, atol=1e-4, rtol=1e-4)
    # the tokenizer is the one written into the file: the same ids for the same text
    from squeeze.data.tokenizer import load_tokenizer
    text = "In the beginning God created the heaven and the earth. Zebulun!"
    ours, written = (load_tokenizer(p).encode(text).ids for p in (tmp_path / "hf" / "tokenizer.json",
                                                                   pieces / "store" / "tokenizer.json"))
    assert ours == written


def test_init_from_a_gguf_imports_once_and_trains(pieces, tmp_path):
    from squeeze.data.prepare import ensure_store
    from squeeze.presets import PRESETS
    from squeeze.study.cpt import fitted, fixed_preset, open_base
    from squeeze.study.steps.base import Study
    from squeeze.train.trainer import train
    out = tmp_path / "study"
    base = open_base(str(pieces / "tiny.gguf"), out)
    assert Path(base.path) == out / "base" and (out / "base" / "gguf.json").is_file()
    assert base.weights_sha256 == json.loads((out / "base" / "gguf.json").read_text())["sha256"]
    mtime = (out / "base" / "model.safetensors").stat().st_mtime_ns
    assert open_base(str(pieces / "tiny.gguf"), out).weights_sha256 == base.weights_sha256  # imported once
    assert (out / "base" / "model.safetensors").stat().st_mtime_ns == mtime
    docs = tmp_path / "domain.txt"
    docs.write_text("\n\n".join(d.text for d in itertools.islice(bible_documents(), 40, 80)))
    preset = fixed_preset(PRESETS["smoke"], base)
    store = ensure_store(str(docs), out, preset.vocab_size, tokenizer=base.tokenizer_file,
                         fingerprint=base.tokenizer_fingerprint)
    st = Study(preset, store, out, 1, start=fitted(base, TokenStore.open(store).vocab_size))
    cfg = st.base("standard")
    cfg.data.budget_tokens, cfg.train.epochs, cfg.train.dtype, cfg.train.compile = 2048, 1, "fp32", "off"
    summary = train(cfg, out / "r", quiet=True)
    assert summary["val_loss"] > 0 and (cfg.model.n_layer, cfg.model.d_model) == (2, 32)
    run = json.loads((out / "r" / "run.json").read_text())
    assert run["init"]["kind"] == "hf llama"


def test_bad_gguf_files_get_one_line(pieces, tmp_path, capsys):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 40)
    assert main(["import", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "not a readable GGUF file" in err and len(err.strip().splitlines()) == 1
    other = tmp_path / "gemma.gguf"
    write_tiny_gguf(other, pieces / "store" / "tokenizer.json", arch="gemma2")
    assert main(["import", str(other), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "GGUF architecture 'gemma2' is not supported" in err and len(err.strip().splitlines()) == 1
    assert main(["run", "--init", str(other), "--preset", "smoke", "--out", str(tmp_path / "o3")]) == 2
    assert "GGUF architecture 'gemma2' is not supported" in capsys.readouterr().err
