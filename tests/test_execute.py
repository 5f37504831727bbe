"""run_jobs: train, skip, resume, isolate failures, and give the same numbers in worker processes as in-process."""
import json

import pytest

from squeeze.errors import SqueezeError
from squeeze.runs import execute
from squeeze.runs.execute import Job, default_threads, run_jobs
from squeeze.train import checkpoint
from squeeze.train.backend import TRAINER
from tests.conftest import tiny_config


def tiny_job(store, run_dir, **train) -> Job:
    """~0.3 s: 4,096 unique tokens = 16 steps of 8 x 32, one epoch, no mid-run checkpoints."""
    cfg = tiny_config(store, **{"epochs": 1, "ckpt_every": 1000, **train})
    cfg.data.budget_tokens = 4096
    return Job(cfg, run_dir)


def mtimes(jobs) -> list[int]:
    return [(j.run_dir / "summary.json").stat().st_mtime_ns for j in jobs]


def test_trains_then_skips(tiny_store, tmp_path, capsys):
    jobs = [tiny_job(tiny_store, tmp_path / "a", lr=3e-3), tiny_job(tiny_store, tmp_path / "b", lr=1e-3)]
    first = run_jobs(jobs, TRAINER, threads_per_worker=1)
    assert [s["steps"] for s in first] == [16, 16]
    assert first[0]["val_loss"] != first[1]["val_loss"]  # in job order, not swapped
    err = capsys.readouterr().err
    assert f"[2/2] {tmp_path / 'b'}: val loss {first[1]['val_loss']:.4f}" in err
    before = mtimes(jobs)
    again = run_jobs(jobs, TRAINER, threads_per_worker=1)
    assert again == first and mtimes(jobs) == before  # nothing retrained
    assert "finished earlier" in capsys.readouterr().err
    assert json.loads((tmp_path / "a" / "config.json").read_text())["train"]["threads"] == 1


def test_resumes_from_state_and_restarts_without_it(tiny_store, tmp_path):
    job = tiny_job(tiny_store, tmp_path / "r")
    [done] = run_jobs([job], TRAINER, threads_per_worker=1)
    (job.run_dir / "summary.json").unlink()  # as if killed after the last checkpoint: resumes, only evaluates
    [resumed] = run_jobs([job], TRAINER, threads_per_worker=1)
    assert resumed["val_loss"] == done["val_loss"] and resumed["steps"] == 16
    (job.run_dir / "summary.json").unlink()
    (job.run_dir / "state.pt").unlink()  # killed before any checkpoint: config.json alone, so start over
    [fresh] = run_jobs([job], TRAINER, threads_per_worker=1)
    assert fresh["val_loss"] == done["val_loss"]


def test_a_finished_run_without_weights_is_read_back_unless_the_job_needs_them(tiny_store, tmp_path):
    from dataclasses import replace
    job = tiny_job(tiny_store, tmp_path / "w")
    [done] = run_jobs([job], TRAINER, threads_per_worker=1)
    for name in ("model.safetensors", "state.pt"):  # as a carried-over study holds it (benchmarks/flagship.py)
        (job.run_dir / name).unlink()
    before = mtimes([job])
    assert run_jobs([job], TRAINER, threads_per_worker=1) == [done] and mtimes([job]) == before  # its summary suffices
    [again] = run_jobs([replace(job, needs_weights=True)], TRAINER, threads_per_worker=1)  # trains again, same seed
    assert (job.run_dir / "model.safetensors").exists() and mtimes([job]) != before
    assert again["val_loss"] == done["val_loss"]


def test_failure_is_reported_after_the_others_finish(tiny_store, tmp_path, capsys):
    bad = tiny_job(tiny_store, tmp_path / "bad")
    bad.cfg.data.path = str(tmp_path / "no_store")
    jobs = [tiny_job(tiny_store, tmp_path / "ok1"), bad, tiny_job(tiny_store, tmp_path / "ok2")]
    with pytest.raises(SqueezeError) as e:
        run_jobs(jobs, TRAINER, threads_per_worker=1)
    msg = str(e.value)
    assert msg.startswith(f"1 of 3 runs failed ({tmp_path / 'bad'}); first error: {tmp_path / 'no_store'}: "
                          "not a token store") and "\n" not in msg
    assert (tmp_path / "ok2" / "summary.json").exists()  # the job after the failure still ran
    assert f"[2/3] {tmp_path / 'bad'}: FAILED" in capsys.readouterr().err


def test_a_run_directory_with_another_config_is_refused(tiny_store, tmp_path):
    run_jobs([tiny_job(tiny_store, tmp_path / "x", lr=3e-3)], TRAINER, threads_per_worker=1)
    with pytest.raises(SqueezeError, match=r"holds a run with another config \(train.lr: saved 0.003, asked 0.001"):
        run_jobs([tiny_job(tiny_store, tmp_path / "x", lr=1e-3)], TRAINER, threads_per_worker=1)
    # threads are hardware, not science: another value still skips the finished run
    run_jobs([tiny_job(tiny_store, tmp_path / "x", lr=3e-3)], TRAINER, workers=2, threads_per_worker=2)


def test_worker_processes_match_in_process(tiny_store, tmp_path):
    def jobs(sub):
        return [tiny_job(tiny_store, tmp_path / sub / "a", lr=3e-3), tiny_job(tiny_store, tmp_path / sub / "b",
                                                                               lr=1e-3, seed=1)]
    serial = run_jobs(jobs("serial"), TRAINER, workers=1, threads_per_worker=1)
    pooled = run_jobs(jobs("pool"), TRAINER, workers=2, threads_per_worker=1)  # the default on 2 cores, said outright
    # same code, same seeds, same single thread: bit-identical on CPU, so compare exactly
    assert [s["val_loss"] for s in pooled] == [s["val_loss"] for s in serial]
    assert json.loads((tmp_path / "pool" / "a" / "config.json").read_text())["train"]["threads"] == 1


def test_default_threads_never_oversubscribe(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert [default_threads(w) for w in (1, 2, 3)] == [2, 1, 1]


def test_run_file_names_match_the_checkpoint_module():
    assert (execute.CONFIG, execute.STATE, execute.SUMMARY) == (checkpoint.CONFIG, checkpoint.STATE, checkpoint.SUMMARY)


def test_progress_line_shows_tokens_per_second_and_mfu_when_the_summary_has_them(tmp_path, capsys):
    report = execute._progress(2)
    job = Job(tiny_config(tmp_path), tmp_path / "a")
    report(0, job, execute.Outcome({"val_loss": 4.0, "tokens_per_second": 12345.4, "mfu": 0.0312}, seconds=61))
    report(1, job, execute.Outcome({"val_loss": 4.0}, seconds=61))  # a summary.json from before these fields
    err = capsys.readouterr().err.splitlines()
    assert err == [f"[1/2] {tmp_path / 'a'}: val loss 4.0000 (61 s, 12,345 tok/s, MFU 3.1%)",
                   f"[2/2] {tmp_path / 'a'}: val loss 4.0000 (61 s)"]


def test_kept_workers_serve_every_call_and_give_the_same_numbers(tiny_store, tmp_path):
    from squeeze.runs import local

    def jobs(sub):
        return [tiny_job(tiny_store, tmp_path / sub / "a", lr=3e-3),
                tiny_job(tiny_store, tmp_path / sub / "b", lr=1e-3, seed=1)]
    fresh = run_jobs(jobs("fresh"), TRAINER, workers=2, threads_per_worker=1)
    with execute.keep_workers():
        first = run_jobs(jobs("kept1"), TRAINER, workers=2, threads_per_worker=1)
        [kept] = local._kept.values()
        processes = dict(kept._processes)
        again = run_jobs(jobs("kept2"), TRAINER, workers=2, threads_per_worker=1)  # a second round: the same processes
        assert list(local._kept.values()) == [kept] and kept._processes == processes and len(processes) == 2
    assert local._kept is None and not any(p.is_alive() for p in processes.values())  # shut down at the end
    assert [s["val_loss"] for s in first] == [s["val_loss"] for s in again] == [s["val_loss"] for s in fresh]


def test_longest_runs_go_first_and_outcomes_stay_in_job_order(tiny_store, tmp_path):
    from squeeze.runs.jobs import schedule
    short, long = tiny_job(tiny_store, tmp_path / "short"), tiny_job(tiny_store, tmp_path / "long", epochs=3)
    order = []

    def submit(unit):
        order.append(unit[0].run_dir.name)
        return len(order) - 1

    def wait_one(handles):
        return handles[0], execute.Outcome(summary={"val_loss": float(handles[0])})
    outs = schedule([short, long], submit, wait_one, lambda *a: None, True, TRAINER, longest_first=True)
    assert order == ["long", "short"]
    assert [o.summary["val_loss"] for o in outs] == [1.0, 0.0]  # short's outcome came from the second submission
    order.clear()
    schedule([short, long], submit, wait_one, lambda *a: None, True, TRAINER)
    assert order == ["short", "long"]  # without it, job order (the serial executor's)


def test_stream_takes_jobs_named_as_others_finish_costliest_first_and_never_twice(tiny_store, tmp_path):
    """A walk: a and a failing job first; b and c (3x a's cost) are named once a has finished. The failed job is
    named on every call and never retried; at most 2 run at once; `limit` stops it sending more."""
    from squeeze.runs.jobs import stream
    a, b, fail = (tiny_job(tiny_store, tmp_path / n) for n in ("a", "b", "fail"))
    c = tiny_job(tiny_store, tmp_path / "c", epochs=3)

    def trial(limit=0):
        done, sent, running, reports = [], [], {}, []

        def more():
            return [a, fail] if "a" not in done else [fail, b, c]

        def submit(job):
            sent.append(job.run_dir.name)
            running[len(sent)] = job
            assert len(running) <= 2
            return len(sent)

        def wait_one(handles):  # the oldest finishes first
            job = running.pop(min(handles))
            done.append(job.run_dir.name)
            return min(handles), execute.Outcome(error="boom" if job is fail else None)
        n = stream(more, submit, wait_one, 2, lambda i, job, out: reports.append((i, job.run_dir.name, out.error)),
                   limit)
        return n, sent, reports
    assert trial() == (4, ["a", "fail", "c", "b"],
                       [(1, "a", None), (2, "fail", "boom"), (3, "c", None), (4, "b", None)])
    assert trial(limit=3)[:2] == (3, ["a", "fail", "c"])


def test_stream_pool_trains_in_worker_processes(tiny_store, tmp_path):
    from squeeze.runs.local import stream_pool
    a, b = tiny_job(tiny_store, tmp_path / "a"), tiny_job(tiny_store, tmp_path / "b", lr=1e-3)

    def more():  # b is named once a has finished
        return [b] if (a.run_dir / "summary.json").exists() else [a]
    seen = []
    assert stream_pool(more, TRAINER, 1, 1, lambda i, job, out: seen.append((i, job.run_dir.name, out.error))) == 2
    assert seen == [(1, "a", None), (2, "b", None)]
    assert json.loads((tmp_path / "b" / "config.json").read_text())["train"]["threads"] == 1
