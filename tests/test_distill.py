"""Distillation: the KD loss against hand computations, the teacher hook in the trainer (cost, resume), sequence-level
KD, chains and the retention figure."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from squeeze.cli import main
from squeeze.errors import SqueezeError
from squeeze.io import read_json
from squeeze.train import distill
from squeeze.train.distill import kd_loss, mixture_logp, retention, synthetic_pick, synthetic_rows_per_step
from squeeze.train.trainer import train
from tests.conftest import tiny_config, train_until_killed


def _metrics(run):
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        r.pop("time", None)
    return rows


def test_kd_loss_is_pure_ce_plus_zero_kl_when_student_is_teacher():
    gen = torch.Generator().manual_seed(0)
    logits_BTV = torch.randn(2, 5, 7, generator=gen)
    y_BT = torch.randint(0, 7, (2, 5), generator=gen)
    for T in (0.5, 1.0, 2.0):
        teacher = (logits_BTV / T).log_softmax(-1)
        assert kd_loss(logits_BTV, teacher, y_BT, 1.0, T).item() == pytest.approx(0.0, abs=1e-6)
        ce = F.cross_entropy(logits_BTV.flatten(0, 1), y_BT.flatten())
        assert kd_loss(logits_BTV, teacher, y_BT, 0.3, T).item() == pytest.approx(0.7 * ce.item(), rel=1e-6)


def test_kd_loss_scales_with_t_squared():
    gen = torch.Generator().manual_seed(1)
    s_NV, t_NV = torch.randn(1, 6, 5, generator=gen), torch.randn(1, 6, 5, generator=gen)
    y = torch.zeros(1, 6, dtype=torch.long)
    for T in (1.0, 2.0, 3.0):
        teacher = (t_NV / T).log_softmax(-1)
        kl = F.kl_div((s_NV / T).log_softmax(-1).flatten(0, 1), teacher.flatten(0, 1), log_target=True,
                      reduction="batchmean")
        assert kd_loss(s_NV, teacher, y, 1.0, T).item() == pytest.approx(T * T * kl.item(), rel=1e-5)


def test_kd_gradient_matches_the_hand_computation():
    # d/dz [(1-a) CE + a T^2 KL(p_t || softmax(z/T))] = (1-a)(softmax(z) - onehot) + a T (softmax(z/T) - p_t),
    # divided by the number of tokens N (the loss is a mean)
    gen = torch.Generator().manual_seed(2)
    z_BTV = torch.randn(1, 4, 6, generator=gen, dtype=torch.float64).requires_grad_(True)
    y_BT = torch.tensor([[0, 3, 5, 1]])
    a, T = 0.6, 1.7
    teacher = (torch.randn(1, 4, 6, generator=gen, dtype=torch.float64) / T).log_softmax(-1)
    kd_loss(z_BTV, teacher, y_BT, a, T).backward()
    z = z_BTV.detach()
    onehot = F.one_hot(y_BT, 6).double()
    hand = ((1 - a) * (z.softmax(-1) - onehot) + a * T * ((z / T).softmax(-1) - teacher.exp())) / 4
    assert torch.allclose(z_BTV.grad.double(), hand, atol=1e-6)


def test_mixture_teacher_is_the_mean_of_member_probabilities():
    gen = torch.Generator().manual_seed(3)
    z_KBTV = torch.randn(3, 2, 4, 5, generator=gen)
    T = 1.5
    want = (z_KBTV / T).softmax(-1).mean(0)
    assert torch.allclose(mixture_logp(z_KBTV, T).exp(), want, atol=1e-6)


def test_retention_by_hand():
    r = retention(4.4, 4.3, 4.2, 100, 800)
    assert r["retention"] == pytest.approx(0.5) and r["param_ratio"] == pytest.approx(0.125)
    assert retention(4.4, 4.3, 4.5, 1, 2)["retention"] is None  # no ensemble gain: no ratio to report


def test_synthetic_rows():
    assert synthetic_rows_per_step(16, 0.2) == 4 and synthetic_rows_per_step(8, 0.0) == 0
    a, b = synthetic_pick(0, 1, 5, 3, 10), synthetic_pick(0, 1, 5, 3, 10)
    assert np.array_equal(a, b) and a.min() >= 0 and a.max() < 10


@pytest.fixture(scope="module")
def teacher_run(tiny_store, tmp_path_factory):
    run = tmp_path_factory.mktemp("teacher") / "t"
    train(tiny_config(tiny_store, epochs=2), run, quiet=True)
    return run


def test_alpha_zero_teacher_changes_nothing_and_cost_is_recorded(tiny_store, teacher_run, tmp_path):
    plain = tiny_config(tiny_store, epochs=1, seed=5)
    train(plain, tmp_path / "plain", quiet=True)
    kd = plain.copy()
    kd.distill.teachers, kd.distill.alpha = str(teacher_run), 0.0
    s = train(kd, tmp_path / "kd", quiet=True)
    assert _metrics(tmp_path / "kd") == _metrics(tmp_path / "plain")
    assert s["teacher_tokens"] == s["tokens_seen"] and s["teacher_seconds"] > 0
    # teacher and student share the tiny shape: a forward is a third of the student's training FLOPs per token
    assert s["teacher_forward_flops"] == s["teacher_tokens"] * ((s["flops"] // s["tokens_seen"]) // 3) > 0


def test_teacher_cache_serves_later_epochs_and_changes_no_number(tiny_store, teacher_run, tmp_path, monkeypatch):
    cfg = tiny_config(tiny_store, epochs=3, seed=4)
    cfg.distill.teachers, cfg.distill.alpha, cfg.distill.temperature = f"{teacher_run},{teacher_run}", 0.7, 2.0
    cached = train(cfg, tmp_path / "cached", quiet=True)
    monkeypatch.setattr(distill, "TEACHER_CACHE_BYTES", 0)
    plain = train(cfg, tmp_path / "plain", quiet=True)
    # one forward pass per sequence: epoch 1 pays, epochs 2 and 3 are served from the cache
    assert cached["teacher_tokens"] * 3 == plain["teacher_tokens"] == cached["tokens_seen"]
    assert cached["teacher_cached_tokens"] == 2 * cached["teacher_tokens"] and plain["teacher_cached_tokens"] == 0
    assert cached["teacher_forward_flops"] * 3 == plain["teacher_forward_flops"]
    # a row's log-probs do not depend on its batch-mates (bit for bit on the CPUs tried; 1e-6 leaves room for others)
    a, b = _metrics(tmp_path / "cached"), _metrics(tmp_path / "plain")
    assert [sorted(r) for r in a] == [sorted(r) for r in b]
    for ra, rb in zip(a, b):
        for k in ("train_loss", "val_loss"):
            if k in ra:
                assert ra[k] == pytest.approx(rb[k], abs=1e-6)


def test_teacher_cache_stops_at_its_byte_budget(tiny_store, teacher_run):
    from squeeze.data.store import TokenStore
    store = TokenStore.open(tiny_store)
    x = torch.randint(0, store.vocab_size, (4, 16))
    row = 16 * store.vocab_size * 4  # one row's float32 log-probs
    t = distill.Teacher([str(teacher_run)], store, 16, "cpu", cache_bytes=3 * row)
    first = t.logp(x, 1.0)
    assert len(t.cache) == 3 and t.tokens == 64  # the fourth row did not fit
    again = t.logp(x, 1.0)  # not every row cached: a forward pass, with the same numbers
    assert t.tokens == 128 and t.cached_tokens == 0 and torch.equal(first, again)
    t.logp(x[:3], 1.0)
    assert t.tokens == 128 and t.cached_tokens == 48  # these three are all cached
    t.logp(x[:3], 2.0)  # another temperature is another entry
    assert t.tokens == 176


def test_distilled_resume_is_bit_identical_with_generated_sequences(tiny_store, teacher_run, tmp_path, monkeypatch):
    cfg = tiny_config(tiny_store, epochs=2, seed=3)
    cfg.distill.teachers = f"{teacher_run},{teacher_run}"
    cfg.distill.alpha, cfg.distill.temperature = 0.5, 1.5
    cfg.distill.seq_count, cfg.distill.seq_fraction = 12, 0.25
    straight = train(cfg, tmp_path / "straight", quiet=True)
    syn = np.load(tmp_path / "straight" / "synthetic.npy")
    assert syn.shape == (12, cfg.model.seq_len + 1) and straight["synthetic_sequences"] == 12
    train_until_killed(cfg, tmp_path / "killed", monkeypatch, at_step=7)
    resumed = train(cfg, tmp_path / "killed", resume=True, quiet=True)
    assert _metrics(tmp_path / "killed") == _metrics(tmp_path / "straight")
    a, b = (load_file(tmp_path / d / "model.safetensors") for d in ("straight", "killed"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the cost survives the restart: every token the student consumed came from a forward pass or the cache, and
    # the resumed run's empty cache made it forward at least as many
    for s in (straight, resumed):
        assert s["teacher_tokens"] + s["teacher_cached_tokens"] == straight["teacher_tokens"] + \
            straight["teacher_cached_tokens"] > 0
    assert resumed["teacher_tokens"] >= straight["teacher_tokens"]
    # epochs are counted over real data: the steps are those of the real sequences alone
    assert straight["steps"] == train(tiny_config(tiny_store, epochs=2), tmp_path / "nokd", quiet=True)["steps"]


def test_teacher_with_a_shorter_context_is_refused(tiny_store, teacher_run, tmp_path):
    cfg = tiny_config(tiny_store, epochs=1)
    cfg.model.seq_len = 64
    cfg.distill.teachers = str(teacher_run)
    with pytest.raises(SqueezeError, match="shorter than the student"):
        train(cfg, tmp_path / "s", quiet=True)


TINY = ["--model.n_layer=1", "--model.d_model=32", "--model.n_head=2", "--model.seq_len=32",
        "--train.batch_size=8", "--train.dtype=fp32", "--train.epochs=1"]


def test_chain_trains_in_order_and_student_prints_retention(tiny_store, teacher_run, tmp_path, capsys):
    root = tmp_path / "chain"
    assert main(["distill", "--data", str(tiny_store), "--out", str(root), "--chain", "3", "--recipe", "standard",
                 *TINY]) == 0
    assert "K curve" in capsys.readouterr().out
    cfgs = [read_json(root / f"chain{i}" / "config.json") for i in range(3)]
    assert cfgs[0]["distill"]["teachers"] == ""
    for i in (1, 2):
        assert cfgs[i]["distill"]["teachers"] == str((root / f"chain{i - 1}").resolve())
        assert read_json(root / f"chain{i}" / "summary.json")["teacher_tokens"] > 0
    done = [(root / f"chain{i}" / "summary.json").stat().st_mtime_ns for i in range(3)]
    assert done == sorted(done)
    assert len(read_json(root / "chain.json")["members"]) == 3
    student = tmp_path / "student"
    assert main(["distill", "--data", str(tiny_store), "--teachers", str(root / "chain0"), str(root / "chain1"),
                 "--out", str(student), "--recipe", "standard", *TINY]) == 0
    out = capsys.readouterr().out
    assert "retention" in out and "x its parameters" in out
    r = read_json(student / "retention.json")
    assert r["param_ratio"] == pytest.approx(0.5)
