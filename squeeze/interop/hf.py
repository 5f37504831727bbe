"""Hugging Face <-> squeeze: the config and weight-name mapping both ways, and reading a local HF model folder.

squeeze's GPT is a Llama when `qk_norm` is off and a Qwen3 when it is on; the mapping is exact, not approximate:
- RMSNorm `x * rsqrt(mean(x^2) + eps) * w`, one eps for every norm (`model.norm_eps` <-> `rms_norm_eps`);
- RoPE rotates (first half, second half) pairs with inv_freq = base^(-2i/K): HF's `rotate_half` layout, so q/k
  rows need no permutation (only Meta's original interleaved checkpoints do, and HF folders never hold those);
- QK-norm is an RMSNorm over the head dim before RoPE, exactly Qwen3's `q_norm`/`k_norm` (Llama has none);
- the fused `qkv` rows are [q; k; v], heads contiguous; the SwiGLU `up` rows are [gate; up] (`silu(gate) * up`);
- no biases anywhere; tied embeddings <-> `tie_word_embeddings`; attention scale 1/sqrt(head dim) in both.
Not representable: the GELU MLP (Llama's MLP is always gated), and any model field beyond these at a non-default
value (looped blocks, for instance); those raise a SqueezeError naming the field. The multi-token prediction
heads (`model.mtp_heads`) are training-only: export leaves them out; the exported model is the next-token LM.
Grouped-query attention imports exactly by repeating each key/value head for the query heads that share it (more
parameters, same function).

Only safetensors weights are read (never pickles). Exercised by tests/test_export.py and tests/test_init.py.
"""
import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from squeeze.config import ModelConfig
from squeeze.errors import SqueezeError, first_line
from squeeze.io import read_json
from squeeze.model import MLP

MAPPED_FIELDS = {"vocab_size", "n_layer", "d_model", "n_head", "seq_len", "mlp", "mlp_ratio", "tie_embeddings",
                 "qk_norm", "dropout", "rope_base", "norm_eps",
                 "attn_dropout", "resid_dropout", "drop_path",  # training-only: the eval-mode model is the same
                 "mtp_heads"}  # training-only heads: export drops them, the next-token model is complete without
SUPPORTED_TYPES = ("llama", "qwen3")


def mlp_hidden(cfg: ModelConfig) -> int:
    """The SwiGLU width squeeze's MLP builds for `cfg` (built on the meta device: no memory, one formula)."""
    with torch.device("meta"):
        return MLP(cfg).down.in_features


def check_exportable(cfg: ModelConfig) -> None:
    """Raise, naming the field, if `cfg` has something a Llama/Qwen3 checkpoint cannot hold."""
    if cfg.mlp != "swiglu":
        raise SqueezeError(f"model.mlp={cfg.mlp!r} is not representable: Llama and Qwen3 MLPs are gated (SwiGLU); "
                           "only model.mlp='swiglu' models export")
    default = type(cfg)()
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name not in MAPPED_FIELDS and value != getattr(default, f.name):
            raise SqueezeError(f"model.{f.name}={value!r} is not representable in a Llama/Qwen3 checkpoint "
                               "(export supports plain, non-looped models only)")


def hf_config(cfg: ModelConfig, eot_id: int) -> dict:
    """config.json of the equivalent HF model: LlamaForCausalLM, or Qwen3ForCausalLM when qk_norm is on."""
    check_exportable(cfg)
    qwen = cfg.qk_norm
    out = {
        "architectures": ["Qwen3ForCausalLM" if qwen else "LlamaForCausalLM"],
        "model_type": "qwen3" if qwen else "llama",
        "vocab_size": cfg.vocab_size, "hidden_size": cfg.d_model, "intermediate_size": mlp_hidden(cfg),
        "num_hidden_layers": cfg.n_layer, "num_attention_heads": cfg.n_head, "num_key_value_heads": cfg.n_head,
        "head_dim": cfg.d_model // cfg.n_head, "hidden_act": "silu", "max_position_embeddings": cfg.seq_len,
        "rms_norm_eps": cfg.norm_eps, "tie_word_embeddings": cfg.tie_embeddings,
        # rope_theta for transformers 4.x, rope_parameters for 5.x; both say the same
        "rope_theta": cfg.rope_base, "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_base},
        "attention_bias": False, "attention_dropout": 0.0, "initializer_range": 0.02, "use_cache": True,
        "bos_token_id": eot_id, "eos_token_id": eot_id, "pad_token_id": eot_id, "torch_dtype": "float32",
    }
    if qwen:
        out.update(use_sliding_window=False, sliding_window=None, max_window_layers=cfg.n_layer)
    else:
        out.update(mlp_bias=False, pretraining_tp=1)
    return out


def to_hf_state(state: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """squeeze GPT state_dict -> HF tensor names (contiguous clones, the tied head left out when tied)."""
    state = {k: v for k, v in state.items() if not k.startswith("mtp.")}  # training-only MTP heads
    D, F = cfg.d_model, mlp_hidden(cfg)
    out = {"model.embed_tokens.weight": state.pop("embed.weight"), "model.norm.weight": state.pop("norm.weight")}
    head = state.pop("head.weight")
    if not cfg.tie_embeddings:
        out["lm_head.weight"] = head
    for i in range(cfg.n_layer):
        s, h = f"blocks.{i}.", f"model.layers.{i}."
        q, k, v = state.pop(s + "attn.qkv.weight").split(D, dim=0)
        gate, up = state.pop(s + "mlp.up.weight").split(F, dim=0)
        out.update({h + "input_layernorm.weight": state.pop(s + "norm1.weight"),
                    h + "post_attention_layernorm.weight": state.pop(s + "norm2.weight"),
                    h + "self_attn.q_proj.weight": q, h + "self_attn.k_proj.weight": k,
                    h + "self_attn.v_proj.weight": v, h + "self_attn.o_proj.weight": state.pop(s + "attn.proj.weight"),
                    h + "mlp.gate_proj.weight": gate, h + "mlp.up_proj.weight": up,
                    h + "mlp.down_proj.weight": state.pop(s + "mlp.down.weight")})
        if cfg.qk_norm:
            out[h + "self_attn.q_norm.weight"] = state.pop(s + "attn.q_norm.weight")
            out[h + "self_attn.k_norm.weight"] = state.pop(s + "attn.k_norm.weight")
    if state:
        raise SqueezeError(f"model has tensors export cannot map: {sorted(state)[:3]} (not a plain GPT)")
    return {k: v.detach().float().contiguous().clone() for k, v in out.items()}


def _get(c: dict, key: str, where: str, default=None):
    if key in c and c[key] is not None:
        return c[key]
    if default is None:
        raise SqueezeError(f"{where}: config.json has no {key!r}")
    return default


def _rope_theta(c: dict, where: str) -> float:
    """rope_theta from either config layout; any scaled RoPE (llama3, yarn, linear...) is refused."""
    params = c.get("rope_parameters") or c.get("rope_scaling") or {}
    kind = params.get("rope_type", params.get("type", "default"))
    if kind != "default":
        raise SqueezeError(f"{where}: RoPE type {kind!r} is not supported (squeeze has plain RoPE only)")
    return float(params.get("rope_theta", c.get("rope_theta", 10000.0)))


def model_config_from_hf(c: dict, where: str) -> tuple[ModelConfig, int]:
    """(squeeze model section, key/value heads) for a Llama/Qwen3 config.json; refuses what squeeze cannot run."""
    kind = c.get("model_type")
    if kind not in SUPPORTED_TYPES:
        raise SqueezeError(f"{where}: model_type {kind!r} is not supported (known: {', '.join(SUPPORTED_TYPES)})")
    for key, ok in (("hidden_act", "silu"), ("attention_bias", False), ("mlp_bias", False),
                    ("use_sliding_window", False)):
        if c.get(key, ok) != ok:
            raise SqueezeError(f"{where}: {key}={c[key]!r} is not supported (squeeze needs {ok!r})")
    d, heads = int(_get(c, "hidden_size", where)), int(_get(c, "num_attention_heads", where))
    kv = int(c.get("num_key_value_heads") or heads)
    if c.get("head_dim") not in (None, d // heads) or d % heads or heads % kv:
        raise SqueezeError(f"{where}: head_dim {c.get('head_dim')} with hidden_size {d}, {heads} heads and {kv} "
                           "key/value heads: squeeze needs head_dim = hidden_size / heads")
    inter = int(_get(c, "intermediate_size", where))
    cfg = ModelConfig(vocab_size=int(_get(c, "vocab_size", where)), n_layer=int(_get(c, "num_hidden_layers", where)),
                      d_model=d, n_head=heads, mlp="swiglu", mlp_ratio=inter * 1.5 / d,
                      tie_embeddings=bool(c.get("tie_word_embeddings", False)), qk_norm=kind == "qwen3",
                      rope_base=_rope_theta(c, where), norm_eps=float(c.get("rms_norm_eps", 1e-6)))
    if mlp_hidden(cfg) != inter:  # squeeze rounds the MLP width up to a multiple of 8
        raise SqueezeError(f"{where}: intermediate_size {inter} is not representable (squeeze needs a multiple of 8)")
    return cfg, kv


def from_hf_state(hf: dict[str, torch.Tensor], cfg: ModelConfig, kv_heads: int,
                  where: str) -> dict[str, torch.Tensor]:
    """HF Llama/Qwen3 tensors -> a squeeze GPT state_dict; key/value heads are repeated up to n_head."""
    hf = dict(hf)
    K, rep = cfg.d_model // cfg.n_head, cfg.n_head // kv_heads

    def take(name: str) -> torch.Tensor:
        if name not in hf:
            raise SqueezeError(f"{where}: weights lack {name!r}")
        return hf.pop(name)

    def heads(w_OD: torch.Tensor) -> torch.Tensor:  # [kv*K, D] -> [n_head*K, D], head h reads kv head h // rep
        return w_OD.view(kv_heads, K, -1).repeat_interleave(rep, dim=0).reshape(cfg.n_head * K, -1)

    embed = take("model.embed_tokens.weight")
    out = {"embed.weight": embed, "norm.weight": take("model.norm.weight")}
    head = hf.pop("lm_head.weight", None)
    if head is None and not cfg.tie_embeddings:
        raise SqueezeError(f"{where}: weights lack 'lm_head.weight' and tie_word_embeddings is false")
    out["head.weight"] = embed if cfg.tie_embeddings else head
    for i in range(cfg.n_layer):
        s, h = f"blocks.{i}.", f"model.layers.{i}."
        qkv = [take(h + "self_attn.q_proj.weight"), heads(take(h + "self_attn.k_proj.weight")),
               heads(take(h + "self_attn.v_proj.weight"))]
        out.update({s + "norm1.weight": take(h + "input_layernorm.weight"),
                    s + "norm2.weight": take(h + "post_attention_layernorm.weight"),
                    s + "attn.qkv.weight": torch.cat(qkv), s + "attn.proj.weight": take(h + "self_attn.o_proj.weight"),
                    s + "mlp.up.weight": torch.cat([take(h + "mlp.gate_proj.weight"), take(h + "mlp.up_proj.weight")]),
                    s + "mlp.down.weight": take(h + "mlp.down_proj.weight")})
        if cfg.qk_norm:
            out[s + "attn.q_norm.weight"] = take(h + "self_attn.q_norm.weight")
            out[s + "attn.k_norm.weight"] = take(h + "self_attn.k_norm.weight")
    leftover = [k for k in hf if not k.endswith("rotary_emb.inv_freq")]
    if leftover:
        raise SqueezeError(f"{where}: weights squeeze cannot place: {sorted(leftover)[:3]}")
    return {k: v.float() for k, v in out.items()}


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of an HF folder: model.safetensors, or the shards its index names."""
    if (folder / "model.safetensors").is_file():
        return [folder / "model.safetensors"]
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(read_json(index).get("weight_map", {}).values()))
        return [folder / s for s in shards]
    if any(folder.glob("*.bin")):
        raise SqueezeError(f"{folder}: only pickled *.bin weights; squeeze reads safetensors only (convert with "
                           "`model.save_pretrained(dir)` in transformers, which writes safetensors)")
    raise SqueezeError(f"{folder}: no model.safetensors (or model.safetensors.index.json)")


def read_hf_folder(folder: str | Path) -> tuple[ModelConfig, dict[str, torch.Tensor], list[Path]]:
    """(model section, squeeze state_dict, weight files) of a local HF Llama/Qwen3 folder; nothing downloads."""
    folder = Path(folder)
    where = str(folder / "config.json")
    try:
        c = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise SqueezeError(f"{where}: cannot read ({e})") from None
    cfg, kv = model_config_from_hf(c, where)
    files = weight_files(folder)
    hf: dict[str, torch.Tensor] = {}
    for f in files:
        try:
            hf.update(load_file(str(f)))
        except Exception as e:  # safetensors raises its own error type for a truncated file
            raise SqueezeError(f"{f}: cannot load weights ({first_line(e)})") from None
    return cfg, from_hf_state(hf, cfg, kv, str(folder)), files
