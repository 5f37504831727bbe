"""The pure parts of benchmarks/throughput.py against hand-computed values (the benchmark itself takes minutes), and
the flagship's clock over invocations."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import flagship  # noqa: E402  (a script folder, not a package)
import throughput  # noqa: E402


def test_reference_flops_per_token_by_hand():
    # 4 x 128, ctx 256, vocab 4096: 6 x (12·4·128² + 4096·128) + 12·4·128·256 = 6 x 1,310,720 + 1,572,864
    assert throughput.ref_flops_per_token(throughput.Shape(4, 128, 256, 4096, 60)) == 9_437_184


def test_steady_rate_is_the_median_chunk_and_startup_the_excess_before_skip():
    # chunks of 1,000 tokens after step 10 take 1.0, 1.2 and 0.8 s: median 1 ms per token, 1,000 tok/s; the
    # 2,000 tokens up to step 10 took 4.0 s where the steady rate needs 2.0: 2.0 s of start-up
    m = throughput.steady([5, 10, 15, 20, 25], [3.0, 4.0, 5.0, 6.2, 7.0], [1000, 2000, 3000, 4000, 5000], skip=10)
    assert m.tok_s == pytest.approx(1000) and m.startup_s == pytest.approx(2.0)


def test_shapes_parse_with_their_default_steps():
    assert throughput.parse_shape("2x64:128:1024", None) == throughput.Shape(2, 64, 128, 1024, 150)
    assert throughput.parse_shape("4x128:256:4096", 80) == throughput.Shape(4, 128, 256, 4096, 80)
    assert throughput.parse_shape("4x128:256:4096", None).name == "4x128:256:4096"


def test_the_flagship_clock_sums_invocations_and_keeps_a_killed_ones_last_beat(tmp_path, monkeypatch):
    import json
    now = iter([100.0, 130.0, 160.0, 500.0, 510.0])  # perf_counter: two invocations
    monkeypatch.setattr(flagship.time, "perf_counter", lambda: next(now))
    first = flagship.Clock(tmp_path / "t.json")  # t0 = 100
    assert first.write() == (30.0, 1)  # a heartbeat at 130
    assert first.write() == (60.0, 1)  # at 160; then the process is killed without a last write
    second = flagship.Clock(tmp_path / "t.json")  # t0 = 500: the killed invocation counts its last beat, 60 s
    assert second.write() == (70.0, 2)
    saved = json.loads((tmp_path / "t.json").read_text())
    assert [i["seconds"] for i in saved["invocations"]] == [60.0, 10.0] and saved["seconds"] == 70.0


def test_the_flagship_carry_holds_the_small_files_and_restores_them(tmp_path):
    import shutil
    out, new = tmp_path / "out", tmp_path / "new"
    small = {"flagship_time.json": "{}", "study.json": "{}", "runs/standard/r1/config.json": "{}",
             "runs/standard/r1/summary.json": '{"val_loss": 4.5}', "runs/standard/r1/metrics.jsonl": "{}\n",
             "runs/selection/masks/random_s0.json": "[1, 0]", "runs/ensemble/L2d64/ensemble.json": "{}"}
    big = ["runs/standard/r1/model.safetensors", "runs/standard/r1/state.pt",
           "runs/snapshot/s0/snapshot001.safetensors", "data/train.bin", "data/tokenizer.json",
           "estimate_run/config.json", ".lock"]
    for name, text in {**small, **{b: "x" for b in big}}.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    carry = tmp_path / "state.tar.xz"
    assert flagship.pack(out, carry) == len(small)
    with pytest.raises(flagship.SqueezeError, match=f"packed from --out {out}; resume it there"):
        flagship.unpack(carry, new)  # the runs' configs name OUT's store by absolute path
    assert not new.exists()
    shutil.rmtree(out)  # as a new checkout finds it
    assert flagship.unpack(carry, out) == len(small)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(small)
    assert all((out / name).read_text() == text for name, text in small.items())
