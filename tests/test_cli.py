"""The command line end to end on tiny inputs: every bad input gets one line, exit code 2, nothing half-written."""
import json

import pytest

from squeeze.cli import main
from tests.conftest import synthetic_documents

TINY = ["--model.n_layer=1", "--model.d_model=32", "--model.n_head=2", "--model.seq_len=32",
        "--train.batch_size=8", "--train.dtype=fp32", "--train.threads=1"]


def error_of(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("squeeze: error: "), err
    return err[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    (d / "c.jsonl").write_text("".join(json.dumps({"text": doc.text}) + "\n" for doc in synthetic_documents(40)))
    return d / "c.jsonl"


def test_prepare_train_eval_sample(corpus, tmp_path, capsys):
    store, run = tmp_path / "store", tmp_path / "run"
    assert main(["prepare", "--data", str(corpus), "--out", str(store), "--vocab-size", "300"]) == 0
    assert "training documents" in capsys.readouterr().out
    assert main(["train", "--data", str(store), "--out", str(run), "--epochs", "2", "--quiet", *TINY]) == 0
    assert "bits/byte" in capsys.readouterr().out
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["epochs"] == 2 and cfg["model"]["d_model"] == 32 and cfg["model"]["vocab_size"] == 300
    assert main(["eval", str(run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    summary = json.loads((run / "summary.json").read_text())
    assert out["loss"] == pytest.approx(summary["val_loss"], rel=1e-6)
    assert main(["sample", str(run), "--prompt", "the king", "--tokens", "5"]) == 0
    assert capsys.readouterr().out.startswith("the king")
    # a space-separated override works too, and a finished run is refused without --force
    msg = error_of(capsys, ["train", "--data", str(store), "--out", str(run), "--train.lr", "0.001", *TINY])
    assert "finished run" in msg


@pytest.mark.parametrize("argv, message", [
    (["train", "--out", "R", "--train.wieght_decay=1.6"], "train.wieght_decay: unknown field"),
    (["train", "--out", "R", "--train.lr=-1"], "train.lr=-1.0 must be >= 0"),
    (["train", "--out", "R", "--train.weight_decay=-0.5"], "must be >= 0"),
    (["train", "--out", "R", "--model.n_layer=two"], "model.n_layer: expected int"),
    (["train", "--out", "R", "--recipe", "magic"], "unknown recipe"),
    (["train", "--out", "R", "--data", "NOPE"], "--data NOPE: no such directory"),
    (["train", "--out", "R", "--data", "."], ".: not a token store"),
    (["prepare", "--data", "MISSING.txt", "--out", "S"], "MISSING.txt: no such file or directory"),
    (["eval", "NORUN"], "RUN_DIR NORUN: no such directory"),
    (["eval", "."], ".: not a run directory"),
    (["run", "--preset", "huge"], "unknown preset"),
    (["prepare", "--out", "S", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_arguments(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert message in error_of(capsys, argv)


@pytest.mark.parametrize("name, content, message", [
    ("empty.txt", b"\n\n  \n", "corpus is empty"),
    ("bad.txt", b"fine line\nbad \xff byte\n", "invalid UTF-8 at byte 14 (line 2)"),
    ("bad.jsonl", b'{"text": "ok"}\n{not json}\n', "bad.jsonl:2: not valid JSON"),
    ("nofield.jsonl", b'{"text": "ok"}\n{"body": "x"}\n', "nofield.jsonl:2: no string field 'text'"),
    ("small.txt", b"one tiny document", "too small"),
])
def test_bad_corpora_write_nothing(name, content, message, tmp_path, capsys):
    (tmp_path / name).write_bytes(content)
    out = tmp_path / "store"
    assert message in error_of(capsys, ["prepare", "--data", str(tmp_path / name), "--out", str(out)])
    assert not (out / "meta.json").exists()


def test_diverging_run_exits_2_with_the_reason(tiny_store, tmp_path, capsys):
    msg = error_of(capsys, ["train", "--data", str(tiny_store), "--out", str(tmp_path / "r"), "--quiet",
                            "--train.lr=1e6", "--train.grad_clip=0", "--epochs", "3", *TINY])
    assert "loss became" in msg and "try a lower train.lr" in msg


def test_corpus_smaller_than_one_sequence(tmp_path, capsys):
    (tmp_path / "c.txt").write_text("a few words here.\n\n\n\nand a second document there.\n")
    assert main(["prepare", "--data", str(tmp_path / "c.txt"), "--out", str(tmp_path / "s"),
                 "--vocab-size", "260", "--val-fraction", "0.5"]) == 0
    capsys.readouterr()
    msg = error_of(capsys, ["train", "--data", str(tmp_path / "s"), "--out", str(tmp_path / "r"), *TINY])
    assert "fewer than one sequence" in msg and not (tmp_path / "r" / "model.safetensors").exists()


def test_eval_refuses_a_store_from_another_tokenizer(corpus, tmp_path, capsys):
    for name, seed in (("a", 0), ("b", 1)):
        docs = tmp_path / f"{name}.jsonl"
        docs.write_text("".join(json.dumps({"text": d.text}) + "\n" for d in synthetic_documents(40, seed)))
        assert main(["prepare", "--data", str(docs), "--out", str(tmp_path / name), "--vocab-size", "300"]) == 0
    assert main(["train", "--data", str(tmp_path / "a"), "--out", str(tmp_path / "r"), "--epochs", "1",
                 "--quiet", *TINY]) == 0
    capsys.readouterr()
    assert "different tokenizers" in error_of(capsys, ["eval", str(tmp_path / "r"), "--data", str(tmp_path / "b")])
