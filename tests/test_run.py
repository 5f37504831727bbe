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


def test_output_store_from_other_data_is_refused(tmp_path, capsys):
    from squeeze.study.run import ensure_store
    from squeeze.errors import SqueezeError
    import pytest
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "meta.json").write_text(json.dumps({"source": "builtin", "vocab_size": 512}))
    assert ensure_store(None, tmp_path, 512) == tmp_path / "data"
    with pytest.raises(SqueezeError, match="prepared from builtin with vocabulary 512, not builtin with 4096"):
        ensure_store(None, tmp_path, 4096)
