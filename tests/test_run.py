"""`squeeze run --preset smoke` end to end on the built-in corpus: prepares, trains, skips when re-run."""
import json

from squeeze.cli import main


def test_smoke_run_trains_then_skips(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--preset", "smoke", "--out", str(out)]) == 0
    first = capsys.readouterr()
    summary = json.loads((out / "runs" / "regularized" / "summary.json").read_text())
    assert f"{summary['val_loss']:.4f}" in first.out and f"{summary['val_bpb']:.4f}" in first.out
    meta = json.loads((out / "data" / "meta.json").read_text())
    assert meta["source"] == "builtin" and meta["vocab_size"] == 512
    mtime = (out / "runs" / "regularized" / "model.safetensors").stat().st_mtime_ns
    assert main(["run", "--preset", "smoke", "--out", str(out)]) == 0
    assert "finished earlier" in capsys.readouterr().err
    assert (out / "runs" / "regularized" / "model.safetensors").stat().st_mtime_ns == mtime
