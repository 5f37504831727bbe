"""The study's compute line: MFU = summed FLOPs / (wall x peak per worker x workers), by hand, and the wall time
that `squeeze run` records over its invocations."""
import pytest

from squeeze.study import compute


def test_study_mfu_by_hand():
    # 3e12 FLOPs in 100 s on 2 workers of a 50 GFLOP/s peak (the median of 40, 50, 60): 3e12 / (100 * 5e10 * 2)
    c = compute.study_mfu([1e12, 2e12], [40e9, 60e9, 50e9], 100.0, 2)
    assert c["mfu"] == pytest.approx(0.3) and c["flops"] == 3e12 and c["peak_flops"] == 50e9
    assert compute.study_mfu([1e12], [], 100.0, 2)["mfu"] is None  # no measured peak: no MFU, not a guess
    assert compute.study_mfu([1e12], [5e10], 0.0, 2)["mfu"] is None


def test_record_time_sums_invocations_and_replaces_its_own(tmp_path):
    compute.record_time(tmp_path, "a", 60.0, 2)
    compute.record_time(tmp_path, "b", 30.0, 2)
    compute.record_time(tmp_path, "b", 90.0, 2)  # the same invocation, later in its run: replaced, not added
    rows = [{"flops": 9e12, "peak_flops": 5e10}, {"flops": 0.0}]
    c = compute.compute_of(tmp_path, rows)
    assert c["wall_seconds"] == 150.0 and c["mfu"] == pytest.approx(9e12 / (150 * 5e10 * 2))
    assert compute.compute_line(c).startswith("compute: 9e+12 FLOPs in 2.5 min on 2 worker(s); study MFU 60.0%")
    assert "not recorded" in compute.compute_line(compute.compute_of(tmp_path / "none", rows))
    assert "no MFU" in compute.compute_line(compute.compute_of(tmp_path, [{"flops": 9e12}]))


def test_runs_older_than_the_recorded_time_give_no_mfu_unless_a_caller_counted_their_time(tmp_path):
    """The flagship's runs from before study_time.json existed (and invocations stopped by SIGKILL) made its study
    MFU read 185%: FLOPs of 10.6 hours over 2.1 recorded hours. Such runs now void the MFU, unless the caller's own
    clock counted them (`before`), in which case the wall time is before + this invocation's seconds."""
    import json
    run = tmp_path / "runs" / "r0"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"started": "2026-12-03T04:58:00+0000"}))
    rows = [{"flops": 9e12, "peak_flops": 5e10, "path": str(run)}]
    compute.record_time(tmp_path, "2026-12-07T00:16:42+0000", 100.0, 2)
    c = compute.compute_of(tmp_path, rows)
    assert c["mfu"] is None and c["unrecorded"] == 1 and c["wall_seconds"] == 100.0
    assert "1 runs started before the first recorded invocation" in compute.compute_line(c)
    compute.record_time(tmp_path, "2026-12-07T05:00:00+0000", 50.0, 2, before=850.0)  # a clock that saw it all
    c = compute.compute_of(tmp_path, rows)
    assert c["wall_seconds"] == 900.0 and c["mfu"] == pytest.approx(9e12 / (900 * 5e10 * 2))
    assert "unrecorded" not in c
    (run / "run.json").write_text(json.dumps({"started": "2026-12-07T00:20:00+0000"}))  # inside the record
    (tmp_path / compute.TIME_FILE).unlink()
    compute.record_time(tmp_path, "2026-12-07T00:16:42+0000", 100.0, 2)
    assert compute.compute_of(tmp_path, rows)["mfu"] == pytest.approx(9e12 / (100 * 5e10 * 2))
