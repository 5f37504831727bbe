"""Export to a Hugging Face folder: transformers loads it offline and gives squeeze's logits (both QK-norm
settings), and what a Llama/Qwen3 checkpoint cannot hold is refused by name."""
import dataclasses
import json

import pytest
import torch

from squeeze import config as config_mod
from squeeze.cli import main
from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError
from squeeze.interop.export import export_run
from squeeze.interop.hf import check_exportable, from_hf_state, hf_config, mlp_hidden, model_config_from_hf, to_hf_state
from squeeze.io import write_json
from squeeze.model import GPT
from squeeze.train import checkpoint as ckpt
from tests.conftest import tiny_config


def need_transformers():
    return pytest.importorskip("transformers", reason="loading the exported folder needs transformers "
                                                      "(pip install 'squeeze[hf]')")


def random_run(store, run_dir, seed=0, **model):
    """A run directory holding a tiny model whose every weight (norm gains included) is random, so a mapping
    mistake in any tensor shows up in the logits."""
    cfg = tiny_config(store)
    cfg.model.vocab_size = TokenStore.open(store).vocab_size
    for k, v in model.items():
        setattr(cfg.model, k, v)
    torch.manual_seed(seed)
    gpt = GPT(cfg.model)
    with torch.no_grad():
        for name, p in gpt.named_parameters():
            p.copy_(1.0 + 0.3 * torch.randn_like(p) if "norm" in name else 0.2 * torch.randn_like(p))
    run_dir.mkdir(parents=True)
    config_mod.save(cfg, str(run_dir / ckpt.CONFIG))
    write_json(run_dir / ckpt.RUN, {"tokenizer_fingerprint": TokenStore.open(store).fingerprint})
    ckpt.save_weights(gpt, run_dir)
    return cfg, gpt.eval()


def hf_logits(folder, ids_BT):
    transformers = need_transformers()
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        return model, model(torch.as_tensor(ids_BT)).logits


@pytest.mark.parametrize("qk_norm,arch", [(False, "LlamaForCausalLM"), (True, "Qwen3ForCausalLM")])
@pytest.mark.parametrize("tied", [True, False])
def test_transformers_gives_squeeze_logits(tiny_store, tmp_path, monkeypatch, qk_norm, arch, tied):
    transformers = need_transformers()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg, gpt = random_run(tiny_store, tmp_path / "run", qk_norm=qk_norm, tie_embeddings=tied, norm_eps=1e-5,
                          rope_base=500.0)
    assert main(["export", str(tmp_path / "run"), "--format", "hf", "--out", str(tmp_path / "hf")]) == 0
    text = "the king and queen of england spoke to the fool"
    tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    store = TokenStore.open(tiny_store)
    ids = store.tokenizer.encode(text).ids
    assert tok(text)["input_ids"] == ids and tok.eos_token_id == store.eot_id
    x_BT = torch.tensor([ids[:cfg.model.seq_len], ids[-cfg.model.seq_len:]])
    model, theirs = hf_logits(tmp_path / "hf", x_BT)
    assert type(model).__name__ == arch
    assert model.config.tie_word_embeddings == tied and model.config.rms_norm_eps == 1e-5
    with torch.no_grad():
        ours = gpt(x_BT)
    assert ours.abs().max() > 1  # the comparison is not between two near-zero tensors
    torch.testing.assert_close(theirs, ours, atol=1e-4, rtol=1e-4)


def test_hf_mapping_round_trips_exactly(tiny_store, tmp_path):
    cfg, gpt = random_run(tiny_store, tmp_path / "run", qk_norm=True, tie_embeddings=False)
    hf = to_hf_state(gpt.state_dict(), cfg.model)
    back_cfg, kv = model_config_from_hf(hf_config(cfg.model, 0), "x")
    assert kv == cfg.model.n_head
    # seq_len is a training choice the recipe keeps; the MLP width is kept, not the ratio that made it
    assert back_cfg == dataclasses.replace(cfg.model, seq_len=back_cfg.seq_len, mlp_ratio=back_cfg.mlp_ratio)
    assert mlp_hidden(back_cfg) == mlp_hidden(cfg.model) == 88 and back_cfg.mlp_ratio == 4.125
    back = from_hf_state(hf, back_cfg, kv, "x")
    mine = gpt.state_dict()
    assert back.keys() == mine.keys() and all(torch.equal(back[k], mine[k]) for k in mine)


def test_gelu_and_unknown_fields_are_refused(tiny_store, tmp_path):
    random_run(tiny_store, tmp_path / "run", mlp="gelu")
    with pytest.raises(SqueezeError, match="model.mlp='gelu' is not representable"):
        export_run(tmp_path / "run", tmp_path / "hf")
    assert not (tmp_path / "hf").exists()

    check_exportable(config_mod.ModelConfig(drop_path=0.1, attn_dropout=0.1))  # training-only options: fine
    with pytest.raises(SqueezeError, match="model.loop_end=2 is not representable"):
        check_exportable(config_mod.ModelConfig(loop_end=2, loop_repeats=4))


def test_export_refuses_to_overwrite_and_unknown_format(tiny_store, tmp_path, capsys):
    random_run(tiny_store, tmp_path / "run")
    export_run(tmp_path / "run", tmp_path / "hf")
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["model_type"] == "qwen3"
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "hf")]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "run"), "--format", "gguf", "--out", str(tmp_path / "x")]) == 2


def test_mtp_heads_are_left_out_of_the_export(tiny_store, tmp_path, monkeypatch):
    need_transformers()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg, gpt = random_run(tiny_store, tmp_path / "run", mtp_heads=2)
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "hf")]) == 0
    x_BT = torch.randint(0, cfg.model.vocab_size, (2, cfg.model.seq_len), generator=torch.Generator().manual_seed(0))
    model, theirs = hf_logits(tmp_path / "hf", x_BT)
    with torch.no_grad():
        ours = gpt(x_BT)
    torch.testing.assert_close(theirs, ours, atol=1e-4, rtol=1e-4)  # the next-token model, complete without heads
    assert sum(p.numel() for p in model.parameters()) == gpt.param_counts()["total"]
