"""Snapshot ensembles inside one run (issue 19): snapshots at cycle ends, kill and resume, the weight noise, snapshot
distillation, and `squeeze eval RUN --snapshots`. The schedule's math is in tests/test_optim.py, MTP in
tests/test_mtp.py."""
import json
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from squeeze.cli import main
from squeeze.config import Config, ModelConfig, apply_overrides
from squeeze.errors import SqueezeError
from squeeze.model import GPT
from squeeze.train import checkpoint as ckpt
from squeeze.train import trainer
from squeeze.train.optim import cycle_bounds
from squeeze.train.setup import make_setup
from squeeze.train.snapshots import add_weight_noise_, weight_noise
from squeeze.train.trainer import train
from tests.conftest import tiny_config, train_until_killed
from tests.test_trainer import metrics

SNAPS = [f"snapshot{c:03d}.safetensors" for c in (1, 2, 3, 4)]


def snapshot_config(store, epochs=1, **train_kw):
    return tiny_config(store, epochs=epochs, lr_cycles=4, **train_kw)


def test_four_cycles_write_four_snapshots_and_eval_reports_them(tiny_store, tmp_path, capsys):
    cfg = snapshot_config(tiny_store)
    cfg.data.fitness_tokens = 2048  # the slice the learned weights are fitted on
    s = train(cfg, tmp_path / "r", quiet=True)
    run = tmp_path / "r"
    assert sorted(p.name for p in run.glob("snapshot*")) == SNAPS
    assert s["lr_cycles"] == 4 and s["snapshots"] == SNAPS and s["snapshot_steps"] == cycle_bounds(s["steps"], 4)[1:]
    last, final = load_file(run / SNAPS[-1]), load_file(run / "model.safetensors")
    assert last.keys() == final.keys() and all(torch.equal(last[k], final[k]) for k in last)  # the last = final
    first = load_file(run / SNAPS[0])
    assert not torch.equal(first["blocks.0.mlp.up.weight"], last["blocks.0.mlp.up.weight"])

    assert main(["eval", str(run), "--snapshots", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["snapshots"] == SNAPS and len(r["member_losses"]) == 4
    assert r["member_losses"][-1] == pytest.approx(s["val_loss"], abs=1e-5)  # the last snapshot is the run
    assert r["mixture"] <= r["mean_member_loss"] + 1e-9 and r["product"] > 0 and r["learned"] > 0
    assert len(r["learned_weights"]["weights"]) == 4 and len(r["mixture_curve_given"]) == 4
    assert r["learned_weights"]["fitness_loss_learned"] <= r["learned_weights"]["fitness_loss_uniform"] + 1e-9

    assert main(["eval", str(run), "--snapshots", "--top-k", "2", "--json"]) == 0
    top = json.loads(capsys.readouterr().out)
    w = r["learned_weights"]["weights"]
    best2 = sorted(sorted(range(4), key=lambda i: -w[i])[:2])
    assert top["snapshots"] == [SNAPS[i] for i in best2] and top["selection"]["by"].startswith("learned weight")
    assert top["member_losses"] == pytest.approx([r["member_losses"][i] for i in best2])

    assert main(["eval", str(run), "--snapshots"]) == 0
    out = capsys.readouterr().out
    assert "snapshot001.safetensors" in out and "mixture (mean of probabilities)" in out and "learned weights" in out

    # the record's weighting: every snapshot in the uniform mixture, the learned one keeps the top-k the slice chose
    assert main(["eval", str(run), "--snapshots", "--fit-top-k", "--json"]) == 0
    fit = json.loads(capsys.readouterr().out)
    lw = fit["learned_weights"]
    assert fit["snapshots"] == SNAPS and fit["mixture"] == pytest.approx(r["mixture"], abs=1e-9)
    assert 1 <= lw["top_k"] <= 4 and sum(v > 0 for v in lw["weights"]) == lw["top_k"]
    assert lw["fitness_loss_learned"] <= r["learned_weights"]["fitness_loss_learned"] + 1e-6  # K = 4 is a candidate
    assert main(["eval", str(run), "--snapshots", "--top-k", "2", "--fit-top-k"]) == 2
    assert "--top-k and --fit-top-k: give one" in capsys.readouterr().err


def test_snapshot_eval_without_a_fitness_slice_and_bad_flags(tiny_store, tmp_path, capsys):
    cfg = tiny_config(tiny_store, epochs=2, lr_cycles=2, snapshot_noise=0.5)  # cycle 1 ends with epoch 1
    train(cfg, tmp_path / "r", quiet=True)
    assert main(["eval", str(tmp_path / "r"), "--snapshots", "--top-k", "1", "--json", "--orders", "1"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["learned_weights"] is None and "learned" not in r
    assert "optimistic" in r["selection"]["by"] and len(r["snapshots"]) == 1
    scores = r["selection"]["scores"]  # every snapshot's validation loss; the best is kept
    assert r["member_losses"] == pytest.approx([min(scores)])
    epoch1 = [row for row in metrics(tmp_path / "r") if "val_loss" in row][0]
    assert epoch1["epoch"] == 1 and epoch1["val_loss"] == pytest.approx(scores[0], abs=1e-5)  # the snapshot's,
    # evaluated before the noise (0.5 x RMS would have moved it far)
    assert main(["eval", str(tmp_path / "r"), "--top-k", "2"]) == 2
    assert "--top-k applies to --snapshots" in capsys.readouterr().err
    plain = tmp_path / "plain"
    train(tiny_config(tiny_store, epochs=1), plain, quiet=True)
    assert main(["eval", str(plain), "--snapshots"]) == 2
    assert "no snapshotNNN.safetensors" in capsys.readouterr().err


def test_killed_between_snapshots_resumes_bit_identical(tiny_store, tmp_path, monkeypatch):
    """Every issue-19 option on: wd against the lr, noise, distillation from the previous snapshot, an MTP head."""
    cfg = snapshot_config(tiny_store, wd_cycle_min=0.7, snapshot_noise=0.05, mtp_weight=0.3)
    cfg.model.mtp_heads, cfg.model.dropout = 1, 0.1  # dropout: the RNG stream must survive the teacher's build
    cfg.distill.snapshot_alpha, cfg.distill.snapshot_temperature = 0.45, 1.2
    bounds = cycle_bounds(make_setup(cfg).total_steps, 4)
    at = bounds[2] + 2  # snapshot002 is written, the last checkpoint (every 5 steps) is before it
    assert (at - 1) // cfg.train.ckpt_every * cfg.train.ckpt_every < bounds[2]
    straight = train(cfg, tmp_path / "straight", quiet=True)

    train_until_killed(cfg, tmp_path / "killed", monkeypatch, at_step=at)
    killed = tmp_path / "killed"
    assert sorted(p.name for p in killed.glob("snapshot*")) == SNAPS[:2]
    before = {n: (killed / n).stat().st_ino for n in SNAPS[:2]}
    resumed = train(cfg, killed, resume=True, quiet=True)
    assert {n: (killed / n).stat().st_ino for n in SNAPS[:2]} == before  # nothing it had written is rewritten

    assert metrics(killed) == metrics(tmp_path / "straight")
    drop = ("train_seconds", "tokens_per_second", "flops_per_second", "peak_flops", "mfu")  # wall clock
    assert {k: v for k, v in resumed.items() if k not in drop} == {k: v for k, v in straight.items() if k not in drop}
    for name in [*SNAPS, "model.safetensors"]:
        a, b = load_file(tmp_path / "straight" / name), load_file(killed / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert straight["snapshot_teacher_forward_flops"] > 0 and straight["mtp_flops"] > 0


def test_weight_noise_has_the_requested_rms_and_is_seeded():
    gen = torch.Generator().manual_seed(0)
    weights = {"big": 3.0 * torch.randn(1000, 1000, generator=gen), "gain": torch.ones(1000)}
    z = weight_noise(weights, 0.1, seed=7, cycle=2)
    assert set(z) == {"big"}  # matrices only: norm gains get none
    rms_w = weights["big"].pow(2).mean().sqrt().item()  # ~3
    assert z["big"].pow(2).mean().sqrt().item() == pytest.approx(0.1 * rms_w, rel=0.01)  # 1e6 draws: ~0.07% error
    assert abs(z["big"].mean().item()) < 0.1 * rms_w * 5 / 1000  # zero mean, 5 standard errors
    assert torch.equal(z["big"], weight_noise(weights, 0.1, seed=7, cycle=2)["big"])  # same (seed, cycle)
    assert not torch.allclose(z["big"], weight_noise(weights, 0.1, seed=7, cycle=3)["big"])  # another cycle
    assert not torch.allclose(z["big"], weight_noise(weights, 0.1, seed=8, cycle=2)["big"])  # another seed
    corr = (z["big"] * weight_noise(weights, 0.1, 7, 3)["big"]).mean() / (0.1 * rms_w) ** 2
    assert abs(corr.item()) < 0.01  # independent draws, not shifted copies

    torch.manual_seed(0)
    model = GPT(ModelConfig(vocab_size=50, n_layer=1, d_model=16, n_head=2, seq_len=8))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    rng = torch.get_rng_state()
    add_weight_noise_(model, 0.1, seed=0, cycle=1)
    assert torch.equal(torch.get_rng_state(), rng)  # its own generator: the run's RNG stream is untouched
    for n, p in model.named_parameters():
        changed = not torch.equal(p, before[n])
        assert changed == (p.ndim >= 2 and before[n].abs().sum() > 0), n  # zero-initialized matrices stay zero


def test_snapshot_distillation_uses_the_snapshots_logits(tiny_store, tmp_path, monkeypatch):
    """The loss of a step in cycle 2 equals (1-a)·CE + a·T²·KL computed by hand with snapshot001's logits."""
    cfg = tiny_config(tiny_store, epochs=1, lr_cycles=2)
    cfg.distill.snapshot_alpha, cfg.distill.snapshot_temperature = 0.4, 1.5
    calls, real = [], trainer.objective

    def spy(model, mtp, w, alpha, T, x_BT, y_BT, teacher_logp_BTV=None):
        loss = real(model, mtp, w, alpha, T, x_BT, y_BT, teacher_logp_BTV)
        with torch.no_grad():
            calls.append((x_BT.clone(), y_BT.clone(), model(x_BT).clone(), teacher_logp_BTV, float(loss)))
        return loss
    monkeypatch.setattr(trainer, "objective", spy)
    s = train(cfg, tmp_path / "r", quiet=True)
    b1 = s["snapshot_steps"][0]
    assert [c[3] is None for c in calls] == [True] * b1 + [False] * (s["steps"] - b1)  # a teacher from cycle 2 on
    x_BT, y_BT, live_BTV, _, loss = calls[-1]  # the last step: the live model is far from snapshot001
    snap = GPT(ckpt.load_run(tmp_path / "r")[0].model)
    ckpt.load_weights(snap, tmp_path / "r" / "snapshot001.safetensors")
    with torch.no_grad():
        snap_BTV = snap.eval()(x_BT)
    a, T = 0.4, 1.5
    ce = F.cross_entropy(live_BTV.flatten(0, 1), y_BT.flatten())

    def kl(teacher_BTV):
        p_NV = (teacher_BTV / T).softmax(-1).flatten(0, 1)
        return (p_NV * (p_NV.log() - (live_BTV / T).log_softmax(-1).flatten(0, 1))).sum(-1).mean()
    assert loss == pytest.approx(float((1 - a) * ce + a * T ** 2 * kl(snap_BTV)), abs=1e-5)
    assert kl(live_BTV) < 1e-6 < kl(snap_BTV) / 100  # the live model as its own teacher would give KL 0
    assert calls[-1][3].exp().sum(-1).allclose(torch.ones(1))
    fpt = snap.flops_per_token() // 3
    assert s["snapshot_teacher_forward_flops"] == fpt * (s["tokens_seen"] - trainer.tokens_at(
        make_setup(cfg).loader, b1))
    assert s["flops"] == snap.flops_per_token() * s["tokens_seen"] + s["snapshot_teacher_forward_flops"]


def test_snapshot_config_rules():
    with pytest.raises(SqueezeError, match="snapshot_alpha needs train.lr_cycles > 1"):
        apply_overrides(Config(), ["--distill.snapshot_alpha=0.45"])
    with pytest.raises(SqueezeError, match="one teacher at a time"):
        apply_overrides(Config(), ["--train.lr_cycles=4", "--distill.snapshot_alpha=0.45", "--distill.teachers=a"])
    c = apply_overrides(Config(), ["--train.lr_cycles=4", "--distill.snapshot_alpha=0.45"])
    assert c.distill.snapshot_temperature == 1.2 and math.isclose(c.train.wd_cycle_min, 1.0)


def test_too_many_cycles_for_the_steps_is_named(tiny_store, tmp_path):
    cfg = tiny_config(tiny_store, epochs=1, lr_cycles=40, warmup=0.02)  # 107 steps: 2 warmup of a 2-step cycle
    with pytest.raises(SqueezeError, match="lr_cycles=40: 107 steps leave the first cycle 2 steps"):
        train(cfg, tmp_path / "r", quiet=True)


def test_a_student_distills_from_a_runs_snapshot_files(tiny_store, tmp_path):
    """distill.teachers takes snapshot files inside a run directory: the teacher is their mixture, counted whole.
    Recomputed here: each snapshot's own log-probabilities, log(mean_k p_k) over the four, equal the teacher's;
    and the student's first metrics line is (1 - a)·CE + a·T²·KL against that mixture, from its initial weights."""
    from squeeze.train.distill import make_distiller
    snap = train(snapshot_config(tiny_store), tmp_path / "snap", quiet=True)
    files = [str(tmp_path / "snap" / f"snapshot{i:03d}.safetensors") for i in (1, 2, 3, 4)]
    student = tiny_config(tiny_store, epochs=1, log_every=1)
    student.distill.teachers = ",".join(files)
    student.distill.alpha, student.distill.temperature = 0.7, 1.5
    out = train(student, tmp_path / "student", quiet=True)
    assert out["teacher_params"] == 4 * snap["params"]
    assert out["teacher_forward_flops"] > 0 and math.isfinite(out["val_loss"])

    s = make_setup(student)
    x_BT, y_BT = s.loader.batch(0, 0)
    T, a = 1.5, 0.7
    with torch.no_grad():
        own_KBTV = []
        for f in files:  # each snapshot as a model of its own
            m = GPT(s.cfg.model)
            ckpt.load_weights(m, tmp_path / "snap" / f.rsplit("/", 1)[1])
            own_KBTV.append((m.eval()(x_BT) / T).log_softmax(-1))
        mix_BTV = torch.logsumexp(torch.stack(own_KBTV), 0) - math.log(4)
        teacher = make_distiller(s.cfg, s.store, tmp_path / "student", "cpu", {}, lambda *_: None)
        assert torch.allclose(teacher.teacher_logp(x_BT), mix_BTV, atol=1e-6)
        assert not torch.allclose(mix_BTV, own_KBTV[-1], atol=1e-3)  # not just the last snapshot
        torch.manual_seed(s.cfg.train.seed)  # the student's initial weights, as the trainer draws them
        logits_BTV = GPT(s.cfg.model)(x_BT)
        ce = F.cross_entropy(logits_BTV.flatten(0, 1), y_BT.flatten())
        kl = (mix_BTV.exp() * (mix_BTV - (logits_BTV / T).log_softmax(-1))).sum(-1).mean()
    first = json.loads((tmp_path / "student" / "metrics.jsonl").read_text().splitlines()[0])
    assert first["step"] == 1 and first["train_loss"] == pytest.approx(float((1 - a) * ce + a * T**2 * kl), rel=1e-5)
    one = tiny_config(tiny_store, epochs=1)
    one.distill.teachers = files[0]
    single = train(one, tmp_path / "one", quiet=True)
    assert single["teacher_params"] == snap["params"] and single["val_loss"] != out["val_loss"]
