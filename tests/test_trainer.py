import json

import pytest
import torch
from safetensors.torch import load_file

from squeeze.data.store import prepare_store
from squeeze.errors import SqueezeError
from squeeze.train import trainer
from squeeze.train.setup import make_setup
from squeeze.train.trainer import train
from tests.conftest import synthetic_documents, tiny_config, train_until_killed


def metrics(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in rows]


def test_run_directory_and_summary(tiny_store, tmp_path):
    s = train(tiny_config(tiny_store), tmp_path / "r", quiet=True)
    run = tmp_path / "r"
    for name in ("config.json", "run.json", "metrics.jsonl", "model.safetensors", "state.pt", "summary.json"):
        assert (run / name).exists(), name
    rows = metrics(run)
    assert [r["step"] for r in rows if "val_loss" in r][-1] == s["steps"]
    assert s["val_loss"] == rows[-1]["val_loss"] and s["tokens_seen"] == 2 * s["unique_tokens"]
    assert s["val_loss"] < rows[0]["train_loss"]  # it learned something
    assert json.loads((run / "run.json").read_text())["git_commit"]


def test_doubling_epoch_evals_skip_epoch_ends_but_not_the_numbers(tiny_store, tmp_path):
    """epochs 1, 2, 4 (and the final eval at 6) instead of every epoch end; evaluation leaves training alone."""
    def evals(mode):
        s = train(tiny_config(tiny_store, epochs=6, epoch_evals=mode), tmp_path / mode, quiet=True)
        return s, [r["epoch"] for r in metrics(tmp_path / mode) if "val_loss" in r]
    (every, at_every), (doubling, at_doubling) = evals("every"), evals("doubling")
    assert at_every == [1, 2, 3, 4, 5, 6] and at_doubling == [1, 2, 4, 6]
    assert doubling["val_loss"] == every["val_loss"]


def test_killed_run_resumes_bit_identical(tiny_store, tmp_path, monkeypatch):
    cfg = tiny_config(tiny_store, epochs=3, dtype="fp32")
    cfg.model.dropout = 0.1  # the RNG state must be restored too
    cfg.data.doc_shuffle = True
    train(cfg, tmp_path / "straight", quiet=True)

    train_until_killed(cfg, tmp_path / "killed", monkeypatch, at_step=13)
    assert not (tmp_path / "killed" / "summary.json").exists()
    with pytest.raises(SqueezeError, match="unfinished run; pass --resume"):
        train(cfg, tmp_path / "killed", quiet=True)
    train(cfg, tmp_path / "killed", resume=True, quiet=True)

    assert metrics(tmp_path / "killed") == metrics(tmp_path / "straight")
    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(tmp_path / "killed" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_finished_run_is_never_overwritten_without_force(tiny_store, tmp_path):
    cfg = tiny_config(tiny_store, epochs=1)
    first = train(cfg, tmp_path / "r", quiet=True)
    with pytest.raises(SqueezeError, match="finished run"):
        train(cfg, tmp_path / "r", quiet=True)
    assert json.loads((tmp_path / "r" / "summary.json").read_text()) == first
    cfg.train.seed = 1
    again = train(cfg, tmp_path / "r", force=True, quiet=True)
    assert again["val_loss"] != first["val_loss"]


def test_resume_refuses_a_different_config(tiny_store, tmp_path, monkeypatch):
    """A killed run resumes only with the config it started with: another learning rate or data order is refused,
    naming the field and both values, and touches nothing; the dtype `auto` resolved at the start is no
    difference, and the same config then resumes to the end."""
    cfg, run = tiny_config(tiny_store, epochs=2, ckpt_every=3), tmp_path / "r"
    train_until_killed(cfg, run, monkeypatch, at_step=4)  # its checkpoint is step 3's
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    lr, order = cfg.copy(), cfg.copy()
    lr.train.lr, order.data.seed = 1e-3, 1
    with pytest.raises(SqueezeError, match=r"--resume with a config that differs from the saved config\.json "
                                           r"\(train\.lr: saved 0\.003, asked 0\.001\)"):
        train(lr, run, resume=True, quiet=True)
    with pytest.raises(SqueezeError, match=r"\(data\.seed: saved 0, asked 1\)"):
        train(order, run, resume=True, quiet=True)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    auto = cfg.copy()
    auto.train.dtype = "auto"  # resolved to fp32 when the run started
    assert train(auto, run, resume=True, quiet=True)["steps"] == make_setup(cfg).total_steps


def test_a_run_killed_before_its_first_checkpoint_has_nothing_to_resume(tiny_store, tmp_path, monkeypatch):
    cfg = tiny_config(tiny_store, epochs=2)
    monkeypatch.setattr(trainer, "tokens_at", lambda *a: (_ for _ in ()).throw(RuntimeError("kill")))
    with pytest.raises(RuntimeError):
        train(cfg, tmp_path / "r", quiet=True)
    monkeypatch.undo()
    with pytest.raises(SqueezeError, match="nothing to resume"):
        train(cfg, tmp_path / "r", resume=True, quiet=True)


def test_store_and_checkpoint_from_different_tokenizers(tiny_store, tmp_path, monkeypatch):
    other = tmp_path / "other"
    prepare_store(synthetic_documents(seed=1), other, vocab_size=300, val_fraction=0.1)
    cfg = tiny_config(tiny_store, epochs=2, ckpt_every=3)
    train_until_killed(cfg, tmp_path / "r", monkeypatch, at_step=4)
    (tmp_path / "r" / "config.json").write_text(
        (tmp_path / "r" / "config.json").read_text().replace(str(tiny_store), str(other)))
    cfg.data.path = str(other)
    with pytest.raises(SqueezeError, match="different tokenizers"):
        train(cfg, tmp_path / "r", resume=True, quiet=True)


def test_nan_loss_stops_keeps_the_checkpoint_and_records_divergence(tiny_store, tmp_path):
    cfg = tiny_config(tiny_store, lr=1e6, grad_clip=0.0, epochs=3, ckpt_every=1)
    s = train(cfg, tmp_path / "r", quiet=True)
    assert s["diverged"] and "loss became" in s["message"] and s["val_loss"] is None
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["diverged"] is True
    weights = load_file(tmp_path / "r" / "model.safetensors")  # the last good checkpoint: finite weights
    assert all(torch.isfinite(w).all() for w in weights.values())
    from squeeze.runs.results import run_row
    assert run_row(tmp_path / "r")["val_loss"] == float("inf")


def test_sequence_too_long_for_the_budget(tiny_store, tmp_path):
    cfg = tiny_config(tiny_store)
    cfg.data.budget_tokens = 20
    with pytest.raises(SqueezeError, match="fewer than one sequence"):
        train(cfg, tmp_path / "r", quiet=True)


def test_vocab_mismatch_is_named(tiny_store, tmp_path):
    cfg = tiny_config(tiny_store)
    cfg.model.vocab_size = 999
    with pytest.raises(SqueezeError, match="vocabulary 300, but model.vocab_size=999"):
        train(cfg, tmp_path / "r", quiet=True)


def test_compiled_training_matches_eager(tiny_store, tmp_path):
    """torch.compile (the presets' default) must train the same model: same losses up to float reassociation."""
    eager = train(tiny_config(tiny_store, epochs=1), tmp_path / "eager", quiet=True)
    compiled = train(tiny_config(tiny_store, epochs=1, compile="on"), tmp_path / "compiled", quiet=True)
    assert compiled["val_loss"] == pytest.approx(eager["val_loss"], abs=2e-3)
    rows_e, rows_c = metrics(tmp_path / "eager"), metrics(tmp_path / "compiled")
    for a, b in zip(rows_e, rows_c):
        if "train_loss" in a:
            assert b["train_loss"] == pytest.approx(a["train_loss"], abs=2e-3)


def test_compiled_looped_training_with_ema_matches_eager(tiny_store, tmp_path):
    """Looping switches on mid-run (a new graph for the compiled step) and EMA reads the compiled model's weights:
    compiled and eager runs still agree, raw and averaged."""
    def cfg(compile):
        c = tiny_config(tiny_store, epochs=2, compile=compile, loop_from=0.5, ema_decay=0.9, ema_start=0.25)
        c.model.loop_start, c.model.loop_end, c.model.loop_repeats, c.model.loop_inject = 1, 2, 2, True
        return c
    eager = train(cfg("off"), tmp_path / "eager", quiet=True)
    compiled = train(cfg("on"), tmp_path / "compiled", quiet=True)
    for key in ("val_loss", "val_loss_ema", "effective_depth", "flops"):
        assert compiled[key] == pytest.approx(eager[key], abs=2e-3), key
    assert eager["effective_depth"] == 4  # the loop was on at the end


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on the CPU CI machine)")
def test_cuda_bf16_training(tiny_store, tmp_path):
    gpu = train(tiny_config(tiny_store, epochs=1, dtype="auto"), tmp_path / "gpu", device="cuda", quiet=True)
    cpu = train(tiny_config(tiny_store, epochs=1), tmp_path / "cpu", quiet=True)
    assert json.loads((tmp_path / "gpu" / "run.json").read_text())["device"] == "cuda"
    assert gpu["val_loss"] == pytest.approx(cpu["val_loss"], abs=0.05)  # bf16 vs fp32: same model, close losses


def test_muon_trains(tiny_store, tmp_path):
    """Muon on hidden matrices + AdamW on the rest learns the tiny corpus as well as AdamW alone does (roughly)."""
    adamw = train(tiny_config(tiny_store, epochs=2), tmp_path / "adamw", quiet=True)
    muon = train(tiny_config(tiny_store, epochs=2, optimizer="muon"), tmp_path / "muon", quiet=True)
    first = metrics(tmp_path / "muon")[0]["train_loss"]
    assert muon["val_loss"] < first - 0.5 and abs(muon["val_loss"] - adamw["val_loss"]) < 0.5


def test_kill_between_final_checkpoint_and_summary(tiny_store, tmp_path, monkeypatch):
    cfg = tiny_config(tiny_store, epochs=1)
    train(cfg, tmp_path / "straight", quiet=True)
    monkeypatch.setattr(trainer, "_summary", lambda *a: (_ for _ in ()).throw(RuntimeError("kill")))
    with pytest.raises(RuntimeError):
        train(cfg, tmp_path / "killed", quiet=True)
    monkeypatch.undo()
    train(cfg, tmp_path / "killed", resume=True, quiet=True)
    assert metrics(tmp_path / "killed") == metrics(tmp_path / "straight")  # one final eval line, not two


def issue5_config(store, **train_kw):
    """Every issue-5 option on: looping switches on at 60% of the steps, with EMA, averaging, augmentation."""
    kw = dict(epochs=3, loop_from=0.6, wd_schedule="inverse", ema_decay=0.9, ema_start=0.3, avg_last_epochs=2,
              aug_mask_rate=0.05, aug_replace_rate=0.05)
    cfg = tiny_config(store, **{**kw, **train_kw})
    cfg.model.loop_start, cfg.model.loop_end, cfg.model.loop_repeats, cfg.model.loop_inject = 1, 2, 2, True
    cfg.model.drop_path, cfg.model.attn_dropout, cfg.model.resid_dropout = 0.1, 0.1, 0.0
    return cfg


def test_looping_switched_on_mid_run_resumes_bit_identical(tiny_store, tmp_path, monkeypatch):
    cfg = issue5_config(tiny_store)
    straight = train(cfg, tmp_path / "straight", quiet=True)
    total = straight["steps"]
    switch = round(0.6 * total)
    seen = []
    real_before = trainer.regularize.before_step

    def record(model, opts, step, total_steps, c):
        real_before(model, opts, step, total_steps, c)
        seen.append((step, model.repeats))
    monkeypatch.setattr(trainer.regularize, "before_step", record)
    # the last checkpoint is before the switch; the resumed part crosses it
    train_until_killed(cfg, tmp_path / "killed", monkeypatch, at_step=switch - 3)
    resumed = train(cfg, tmp_path / "killed", resume=True, quiet=True)
    assert dict(seen)[switch - 1] == 0 and dict(seen)[switch] == 2  # looping switched on at train.loop_from

    assert metrics(tmp_path / "killed") == metrics(tmp_path / "straight")
    for name in ("model.safetensors", "model_ema.safetensors", "model_avg.safetensors"):
        a, b = load_file(tmp_path / "straight" / name), load_file(tmp_path / "killed" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    drop = ("train_seconds", "tokens_per_second", "flops_per_second", "peak_flops", "mfu")  # wall clock
    assert {k: v for k, v in resumed.items() if k not in drop} == {k: v for k, v in straight.items() if k not in drop}
    for k in ("val_loss_ema", "val_loss_avg"):
        assert k in straight and metrics(tmp_path / "straight")[-1][k] == straight[k]


def test_summary_flops_count_looping_only_where_it_ran(tiny_store, tmp_path):
    from squeeze.model import GPT
    cfg = issue5_config(tiny_store, epochs=1, avg_last_epochs=1)
    s = train(cfg, tmp_path / "r", quiet=True)
    setup = make_setup(cfg)
    model = GPT(setup.cfg.model)
    switch = round(0.6 * s["steps"])
    before = trainer.tokens_at(setup.loader, switch)
    assert s["flops"] == model.flops_per_token(0) * before + model.flops_per_token(2) * (s["tokens_seen"] - before)
    assert s["effective_depth"] == 4 and s["params"] == model.param_counts()["total"]


def test_weight_averaging_leaves_the_raw_training_alone(tiny_store, tmp_path):
    plain = train(tiny_config(tiny_store, epochs=2), tmp_path / "plain", quiet=True)
    averaged = train(tiny_config(tiny_store, epochs=2, ema_decay=0.9, avg_last_epochs=2), tmp_path / "avg", quiet=True)
    assert averaged["val_loss"] == plain["val_loss"]
    assert averaged["val_loss_ema"] != plain["val_loss"] and "val_loss_avg" in averaged
    assert metrics(tmp_path / "plain") == metrics(tmp_path / "avg")[:-1]  # plus one line of averaged losses


def test_auto_dtype_rule_on_both_cpu_kinds():
    """The rule of squeeze/device/precision.py, with the native-bf16 answer forced both ways so CI (a CPU without native
    bf16) covers the AMX path too: eager CPU runs take fp32 on either kind; compiled ones take bf16 only where it
    is native; GPUs take bf16; an explicit dtype is kept."""
    from squeeze.device.precision import choose_dtype
    for native in (True, False):
        assert choose_dtype("auto", "cpu", compiled=False, native_bf16=native)[0] == "fp32"
        assert choose_dtype("bf16", "cpu", native_bf16=native) == ("bf16", "asked for")
    assert choose_dtype("auto", "cpu", compiled=True, native_bf16=True)[0] == "bf16"
    assert choose_dtype("auto", "cpu", compiled=True, native_bf16=False)[0] == "fp32"
    assert choose_dtype("auto", "cuda", native_bf16=False)[0] == "bf16"


@pytest.mark.parametrize("native", [True, False])
def test_auto_dtype_is_resolved_once_and_every_evaluation_uses_it(tiny_store, tmp_path, monkeypatch, native, capsys):
    """config.json holds the dtype that ran (not `auto`), run.json and the header say why, a resume that asks for
    `auto` again is the same run, and `squeeze eval` of the run reproduces its summary's loss exactly."""
    from squeeze.cli import main
    from squeeze.device import precision
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    cfg = tiny_config(tiny_store, epochs=1, dtype="auto")
    s = train(cfg, tmp_path / "r")
    saved = json.loads((tmp_path / "r" / "config.json").read_text())["train"]["dtype"]
    assert saved == "fp32"  # eager on a CPU, with or without native bf16
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["dtype"] == "fp32" and "eager on CPU" in info["dtype_reason"]
    assert "fp32 on cpu (auto: eager on CPU" in capsys.readouterr().err
    (tmp_path / "r" / "summary.json").unlink()  # as if killed after the last checkpoint: resume asks for auto
    assert train(cfg, tmp_path / "r", resume=True, quiet=True)["val_loss"] == s["val_loss"]
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] == s["val_loss"]


def test_a_bf16_run_is_evaluated_in_bf16(tiny_store, tmp_path, capsys):
    """A run that trained in bf16 (asked for, or resolved so on a native-bf16 CPU) is evaluated in bf16 by every
    path: `squeeze eval` and a one-member ensemble give its summary's loss."""
    from squeeze.cli import main
    from squeeze.evaluation.ensemble import ensemble_eval
    s = train(tiny_config(tiny_store, epochs=1, dtype="bf16"), tmp_path / "r", quiet=True)
    assert main(["eval", str(tmp_path / "r"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] == s["val_loss"]
    assert ensemble_eval([str(tmp_path / "r")], n_orders=0)["member_losses"][0] == pytest.approx(s["val_loss"],
                                                                                                  rel=1e-6)
