"""`squeeze run --init`: the whole smoke study from a tiny base trained here (on King James Bible pieces) on a
domain corpus of Shakespeare pieces: every run names the base and starts from its weights, the table's first row is
the base itself, the sizes are the base's, and bad bases and re-runs are refused in one line."""
import itertools
import json
from pathlib import Path

import pytest
import torch

from squeeze import config as config_mod
from squeeze.cli import main
from squeeze.data.corpus import bible_documents, shakespeare_documents
from squeeze.data.store import TokenStore, prepare_store
from squeeze.evaluation.loss import evaluate
from squeeze.presets import preset_config
from squeeze.runs.results import collect
from squeeze.study.limits import NOT_APPLICABLE
from squeeze.train import trainer
from squeeze.train.distributed import Ranks
from squeeze.train.trainer import train


def write_jsonl(docs, path: Path) -> Path:
    path.write_text("".join(json.dumps({"text": d.text}) + "\n" for d in docs), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """A smoke-sized squeeze model (2 x 64, context 64) trained one epoch on 300 Bible pieces."""
    root = tmp_path_factory.mktemp("base")
    prepare_store(list(itertools.islice(bible_documents(), 300)), root / "store", vocab_size=512, val_fraction=0.05)
    cfg = preset_config("smoke", "standard")
    cfg.data.path, cfg.data.budget_tokens, cfg.train.epochs, cfg.train.dtype = str(root / "store"), 0, 1, "fp32"
    train(cfg, root / "run", quiet=True)
    return root / "run"


@pytest.fixture(scope="module")
def domain(tmp_path_factory):
    return write_jsonl(itertools.islice(shakespeare_documents(), 200), tmp_path_factory.mktemp("dom") / "domain.jsonl")


@pytest.fixture(scope="module")
def cpt_study(base_run, domain, tmp_path_factory):
    out = tmp_path_factory.mktemp("cpt") / "out"
    code = main(["run", "--init", str(base_run), "--data", str(domain), "--preset", "smoke", "--out", str(out)])
    return out, code


def test_cpt_smoke_study_finishes_from_the_base(cpt_study, base_run, capsys):
    out, code = cpt_study
    assert code == 0
    rows = collect(out / "runs")
    assert rows and all(r["finished"] for r in rows)
    assert {(r["n_layer"], r["d_model"]) for r in rows} == {(2, 64)}  # the base's size, not the preset's sizes
    for r in rows:  # every run's config names the base; run.json records its weights
        assert config_mod.load(str(Path(r["path"]) / "config.json")).train.init == str(base_run)
    study = json.loads((out / "study.json").read_text())
    assert study["base"]["sha256"] == json.loads((Path(rows[0]["path"]) / "run.json").read_text())["init"][
        "weights_sha256"]
    assert len(study["base"]["tokenizer_fingerprint"]) == 64
    # the domain corpus was prepared with the base's tokenizer
    assert TokenStore.open(out / "data").fingerprint == study["base"]["tokenizer_fingerprint"]
    summary = json.loads((out / "summary.json").read_text())
    first = summary["methods"][0]
    assert first["method"] == "base, no training on the domain" and first["multiplier_text"].startswith("worth")
    assert summary["methods"][1]["significance"] == "reference"
    assert not any("1/8" in m["method"] for m in summary["methods"])  # one size: no 1/8 student
    params = {lim["what"]: lim["text"] for lim in summary["limits"]}
    assert params["regularized recipe, parameters -> infinity"] == NOT_APPLICABLE
    assert params["ensembles, members -> infinity, then parameters -> infinity"] == NOT_APPLICABLE
    assert "fixed to the base's" in summary["base"]["note"]
    assert "base, no training on the domain" in (out / "report.md").read_text()


def test_the_first_standard_run_starts_at_the_bases_loss(cpt_study, tmp_path):
    """The first standard run's model at step 0, built from its own config.json, scores the base row's loss."""
    out, _ = cpt_study
    base = json.loads((out / "runs" / "base" / "base.json").read_text())
    run = min((r for r in collect(out / "runs" / "standard")), key=lambda r: r["path"])
    cfg = config_mod.load(str(Path(run["path"]) / "config.json"))
    cfg.train.compile, cfg.train.dtype = "off", "fp32"
    (tmp_path / "r").mkdir()
    s, model, *_ = trainer._open_run(cfg, tmp_path / "r", False, False, "cpu", lambda *a: None, Ranks())
    store = TokenStore.open(cfg.data.path)
    with torch.no_grad():
        r = evaluate(model.eval(), store.val, store.token_bytes, cfg.model.seq_len, cfg.train.batch_size,
                     max_tokens=cfg.train.final_eval_tokens, dtype="fp32")
    assert r["loss"] == pytest.approx(base["val_loss"], abs=1e-6)
    assert run["val_loss"] < base["val_loss"]  # and training on the domain moved it


def test_a_rerun_with_another_base_or_none_is_refused(cpt_study, tmp_path, domain, capsys):
    import shutil
    out, _ = cpt_study
    study = json.loads((out / "study.json").read_text())
    other = tmp_path / "other"
    shutil.copytree(Path(study["base"]["path"]), other)
    torch.manual_seed(1)
    from safetensors.torch import load_file, save_file
    w = load_file(other / "model.safetensors")
    save_file({k: v + 0.01 for k, v in w.items()}, other / "model.safetensors")
    capsys.readouterr()
    assert main(["run", "--init", str(other), "--data", str(domain), "--preset", "smoke", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "this study ran from the base" in err and len(err.strip().splitlines()) == 1
    assert main(["run", "--data", str(domain), "--preset", "smoke", "--out", str(out)]) == 2
    assert "not without --init" in capsys.readouterr().err


def test_bad_bases_get_one_line(base_run, domain, tmp_path, capsys):
    # a preset whose context is longer than the base's (the default preset's 128 against the base's 64)
    assert main(["run", "--init", str(base_run), "--data", str(domain), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "trains a context of 128 tokens, longer than the base's 64" in err and len(err.splitlines()) == 1
    # an HF folder whose tokenizer is not byte-level BPE (SentencePiece-style tokens)
    from tokenizers import Tokenizer, models

    from tests.test_init import make_hf
    store = tmp_path / "s"
    prepare_store(list(itertools.islice(bible_documents(), 20)), store, vocab_size=300, val_fraction=0.1)
    make_hf("llama", store, tmp_path / "hf2")
    vocab = {"<|endoftext|>": 0, "\u2581the": 1}
    Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>")).save(str(tmp_path / "hf2" / "tokenizer.json"))
    capsys.readouterr()
    assert main(["run", "--init", str(tmp_path / "hf2"), "--data", str(domain), "--preset", "smoke", "--out",
                 str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "is not byte-level BPE" in err and "squeeze needs a byte-level BPE tokenizer" in err
    assert len(err.strip().splitlines()) == 1
