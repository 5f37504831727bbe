import pytest
import torch
from safetensors.torch import load_file

from squeeze.config import ModelConfig, TrainConfig
from squeeze.model import GPT
from squeeze.train.averaging import Averager, average, ema_update_, with_weights


def test_ema_update_by_hand():
    avg = {"w": torch.tensor([1.0, 2.0])}
    ema_update_(avg, {"w": torch.tensor([3.0, 2.0])}, 0.9)
    assert torch.allclose(avg["w"], torch.tensor([1.2, 2.0]))  # 0.9·1 + 0.1·3
    ema_update_(avg, {"w": torch.tensor([3.0, 0.0])}, 0.9)
    assert torch.allclose(avg["w"], torch.tensor([1.38, 1.8]))  # 0.9·1.2 + 0.3, 0.9·2


def test_average_by_hand():
    out = average([{"a": torch.tensor([1.0, 4.0])}, {"a": torch.tensor([2.0, 0.0])}, {"a": torch.tensor([6.0, 2.0])}])
    assert torch.allclose(out["a"], torch.tensor([3.0, 2.0]))
    with pytest.raises(ValueError):
        average([])


def model() -> GPT:
    torch.manual_seed(0)
    return GPT(ModelConfig(vocab_size=20, n_layer=1, d_model=8, n_head=2, seq_len=4))


def set_all(m: GPT, value: float) -> None:
    with torch.no_grad():
        for p in m.parameters():
            p.fill_(value)


def test_averager_ema_start_snapshots_and_resume(tmp_path):
    """4 epochs of 2 steps; EMA from step 4 of 8 with decay 0.5; average of the last 2 epoch ends."""
    m = model()
    tc = TrainConfig(epochs=4, ema_decay=0.5, ema_start=0.5, avg_last_epochs=2)
    avg = Averager(tc, total_steps=8, steps_per_epoch=2, run_dir=tmp_path)
    for step in range(1, 9):
        set_all(m, float(step))  # the weights after `step` steps
        avg.after_step(m, step)
        if step == 5:  # a kill and resume here must give the same end
            resumed = Averager(tc, 8, 2, tmp_path)
            resumed.load({k: {n: t.clone() for n, t in v.items()} for k, v in avg.state().items()}, m)
            avg = resumed
    # EMA: starts at 4, then 0.5·4 + 0.5·5 = 4.5, 5.25, 6.125, 7.0625
    assert all(torch.allclose(t, torch.full_like(t, 7.0625)) for t in avg.ema.values())
    assert sorted(p.name for p in tmp_path.glob("epoch*")) == ["epoch003.safetensors", "epoch004.safetensors"]
    seen = []
    out = avg.finish(m, lambda mm: seen.append(next(mm.parameters()).flatten()[0].item()) or
                     {"loss": seen[-1], "bpb": 0.0})
    assert seen == [7.0625, 7.0]  # EMA, then the mean of the weights after steps 6 and 8
    assert out["val_loss_ema"] == 7.0625 and out["val_loss_avg"] == 7.0
    assert out["weights_ema"] == "model_ema.safetensors"
    saved = load_file(str(tmp_path / "model_avg.safetensors"))
    assert all(torch.allclose(t, torch.full_like(t, 7.0)) for t in saved.values())
    assert next(m.parameters()).flatten()[0].item() == 8.0  # the raw model is untouched


def test_with_weights_keeps_the_tied_head():
    m = model()
    other = with_weights(m, {n: torch.zeros_like(p) for n, p in m.named_parameters()})
    assert other.head.weight is other.embed.weight and other.head.weight.abs().sum() == 0
    assert m.embed.weight.abs().sum() > 0


def test_averaging_off_does_nothing(tmp_path):
    avg = Averager(TrainConfig(epochs=2), 4, 2, tmp_path)
    avg.after_step(model(), 2)
    assert not avg.active and avg.state() == {} and not list(tmp_path.iterdir())
