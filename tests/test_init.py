"""`squeeze train --init`: from a squeeze run or a local HF Llama/Qwen3 folder (made in the test), the source's
architecture and weights at step 0, its tokenizer checked against the store, and an exact resume."""
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from squeeze.cli import main
from squeeze.data.store import TokenStore, prepare_store
from squeeze.errors import SqueezeError
from squeeze.model import GPT
from squeeze.train import init as init_mod
from squeeze.train import trainer
from squeeze.train.distributed import Ranks
from squeeze.train.trainer import train
from tests.conftest import synthetic_documents, tiny_config


def open_fresh(cfg, run_dir):
    """The model a run starts from (step 0), without training."""
    run_dir.mkdir(parents=True, exist_ok=True)
    s, model, *_ = trainer._open_run(cfg, run_dir, False, False, "cpu", lambda *a: None, Ranks())
    return s.cfg, model


@pytest.fixture(scope="module")
def source_run(tiny_store, tmp_path_factory):
    run = tmp_path_factory.mktemp("src") / "run"
    cfg = tiny_config(tiny_store, epochs=1)
    cfg.model.n_layer, cfg.model.qk_norm = 3, False
    train(cfg, run, quiet=True)
    return run


def test_init_from_a_squeeze_run_takes_its_architecture_and_weights(tiny_store, source_run, tmp_path, capsys):
    cfg = tiny_config(tiny_store)  # 2 layers and qk_norm on: the source's 3 layers and no qk_norm win
    cfg.train.init, cfg.model.seq_len = str(source_run), 16
    got_cfg, model = open_fresh(cfg, tmp_path / "r")
    assert (got_cfg.model.n_layer, got_cfg.model.qk_norm, got_cfg.model.seq_len) == (3, False, 16)
    src = load_file(source_run / "model.safetensors")
    mine = model.state_dict()
    assert all(torch.equal(mine[k], src[k]) for k in src)
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["init"]["kind"] == "squeeze run" and len(info["init"]["weights_sha256"]) == 64
    assert json.loads((tmp_path / "r" / "config.json").read_text())["train"]["init"] == str(source_run)


def test_init_run_resumes_exactly_without_the_source(tiny_store, source_run, tmp_path, monkeypatch):
    src = tmp_path / "src"
    shutil.copytree(source_run, src)
    cfg = tiny_config(tiny_store, epochs=2, init=str(src))
    train(cfg, tmp_path / "straight", quiet=True)
    real = trainer.lr_multiplier
    monkeypatch.setattr(trainer, "lr_multiplier",
                        lambda step, *a: (_ for _ in ()).throw(RuntimeError("kill")) if step == 7 else real(step, *a))
    with pytest.raises(RuntimeError, match="kill"):
        train(cfg, tmp_path / "killed", quiet=True)
    monkeypatch.setattr(trainer, "lr_multiplier", real)
    shutil.rmtree(src)  # the init applies at step 0 only: a resume never reads the source again
    train(cfg, tmp_path / "killed", resume=True, quiet=True)
    lines = [(tmp_path / d / "metrics.jsonl").read_text().splitlines() for d in ("straight", "killed")]
    strip = lambda rows: [{k: v for k, v in json.loads(r).items() if k != "time"} for r in rows]
    assert strip(lines[0]) == strip(lines[1])
    a, b = (load_file(tmp_path / d / "model.safetensors") for d in ("straight", "killed"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_init_refuses_a_store_with_another_tokenizer(tiny_store, source_run, tmp_path):
    other = tmp_path / "other"
    prepare_store(synthetic_documents(seed=3), other, vocab_size=290, val_fraction=0.1)
    cfg = tiny_config(other, init=str(source_run))
    with pytest.raises(SqueezeError, match="different tokenizer; prepare it with"):
        train(cfg, tmp_path / "r", quiet=True)
    with pytest.raises(SqueezeError, match="not a squeeze run or a Hugging Face model folder"):
        train(tiny_config(tiny_store, init=str(tmp_path)), tmp_path / "r2", quiet=True)


def make_hf(kind, store, folder, vocab_pad=0, tied=False, shard=""):
    """A tiny random HF model saved with save_pretrained (in shards when `shard` is a size), plus the store's
    tokenizer.json."""
    transformers = pytest.importorskip("transformers", reason="HF init tests build a model with transformers")
    vocab = TokenStore.open(store).vocab_size + vocab_pad
    common = dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5,
                  tie_word_embeddings=tied, rope_parameters={"rope_type": "default", "rope_theta": 1000.0})
    torch.manual_seed(0)
    if kind == "llama":
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**common, head_dim=8))
    else:
        model = transformers.Qwen3ForCausalLM(transformers.Qwen3Config(**common, head_dim=8))
    with torch.no_grad():
        for name, p in model.named_parameters():  # norm gains random too, so any mapping slip changes logits
            p.copy_(1 + 0.3 * torch.randn_like(p) if "norm" in name else 0.2 * torch.randn_like(p))
    model.save_pretrained(folder, **({"max_shard_size": shard} if shard else {}))
    shutil.copy(TokenStore.open(store).root / "tokenizer.json", folder / "tokenizer.json")
    return model.eval()


@pytest.mark.parametrize("kind,pad,tied,shard", [("llama", 0, False, "40KB"), ("qwen3", 8, True, "")])
def test_init_from_hf_gives_the_hf_models_logits(tiny_store, tmp_path, kind, pad, tied, shard):
    hf = make_hf(kind, tiny_store, tmp_path / "hf", vocab_pad=pad, tied=tied, shard=shard)
    assert (tmp_path / "hf" / "model.safetensors.index.json").is_file() == bool(shard)
    cfg = tiny_config(tiny_store, init=str(tmp_path / "hf"))
    got_cfg, model = open_fresh(cfg, tmp_path / "r")
    assert got_cfg.model.qk_norm == (kind == "qwen3") and got_cfg.model.norm_eps == 1e-5
    assert got_cfg.model.rope_base == 1000.0 and got_cfg.model.tie_embeddings == tied
    V = TokenStore.open(tiny_store).vocab_size
    x_BT = torch.randint(0, V, (2, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs, ours = hf(x_BT).logits[..., :V], model.eval()(x_BT)
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
    assert json.loads((tmp_path / "r" / "run.json").read_text())["init"]["kind"] == f"hf {kind}"


def test_train_init_from_hf_on_the_command_line(tiny_store, tmp_path, capsys):
    make_hf("llama", tiny_store, tmp_path / "hf")
    assert main(["train", "--data", str(tiny_store), "--out", str(tmp_path / "r"), "--init", str(tmp_path / "hf"),
                 "--epochs", "1", "--model.seq_len=32", "--train.batch_size=8", "--train.dtype=fp32"]) == 0
    err = capsys.readouterr().err
    assert "init: weights from hf llama" in err and "n_layer 4 -> 2" in err
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["params"] == sum(p.numel() for p in GPT(init_mod.read_source(tmp_path / "hf").model).parameters())


def test_unsupported_hf_configs_are_refused(tmp_path):
    from squeeze.interop.hf import model_config_from_hf
    base = {"model_type": "llama", "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64,
            "vocab_size": 300, "num_hidden_layers": 1}
    model_config_from_hf(base, "c")
    for bad, match in [({"model_type": "gpt2"}, "model_type 'gpt2' is not supported"),
                       ({"hidden_act": "gelu"}, "hidden_act='gelu'"),
                       ({"attention_bias": True}, "attention_bias=True"),
                       ({"head_dim": 16}, "head_dim 16"),
                       ({"intermediate_size": 60}, "intermediate_size 60"),
                       ({"rope_scaling": {"rope_type": "llama3", "factor": 8.0}}, "RoPE type 'llama3'")]:
        with pytest.raises(SqueezeError, match=match):
            model_config_from_hf({**base, **bad}, "c")
    (tmp_path / "config.json").write_text(json.dumps(base))
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(SqueezeError, match="squeeze reads safetensors only"):
        init_mod.read_source(tmp_path)
