"""tools/check_layers.py: squeeze's imports go one way (library below, commands above) with no circles, and the
check itself catches a circle and command-layer work in a library module."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "check_layers.py"


def run_check(package: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), str(package)], capture_output=True, text=True, timeout=60)


def test_squeeze_has_one_direction_of_imports():
    r = run_check(ROOT / "squeeze")
    assert r.returncode == 0, r.stdout
    assert r.stdout.startswith("layers: ok")


def test_the_check_finds_a_circle_and_command_work_in_the_library(tmp_path):
    pkg = tmp_path / "squeeze"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cli" / "__init__.py").write_text("import argparse\nfrom squeeze import a\n")  # allowed here
    (pkg / "a.py").write_text("from squeeze import b\n")
    (pkg / "b.py").write_text("import argparse\nfrom squeeze.a import x\n\n\ndef cmd_go(args: argparse.Namespace):\n"
                              "    pass\n")
    (pkg / "c.py").write_text("from squeeze.cli import main\n\n\ndef add_thing_parser(sub):\n    pass\n")
    r = run_check(pkg)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert "import circle: squeeze.a -> squeeze.b" in lines
    assert any("b.py: imports argparse" in x for x in lines)
    assert any("b.py: defines cmd_go()" in x for x in lines)
    assert any("b.py: cmd_go() takes an argparse.Namespace" in x for x in lines)
    assert any("c.py: imports squeeze.cli" in x for x in lines)
    assert any("c.py: defines add_thing_parser()" in x for x in lines)
    assert not any("cli/__init__.py" in x for x in lines)


def test_the_check_finds_a_back_arrow_and_imports_that_belong_at_the_top(tmp_path):
    """A lower layer importing a higher one (squeeze.runs -> squeeze.train) fails, and so does a function-level
    import that could be at the top; one that would close a circle, or of an optional extra, may stay."""
    pkg = tmp_path / "squeeze"
    for sub in ("runs", "train", "study"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "runs" / "jobs.py").write_text("from squeeze.train import trainer\n")  # a back-arrow
    (pkg / "train" / "trainer.py").write_text("from squeeze.study import a\n")
    (pkg / "study" / "a.py").write_text("def f():\n    from squeeze.study import b\n\n\ndef g():\n"
                                        "    import ray\n    import json\n")
    (pkg / "study" / "b.py").write_text("")
    (pkg / "study" / "c.py").write_text("from squeeze.study import d\n")
    (pkg / "study" / "d.py").write_text("def f():\n    from squeeze.study import c\n")  # c imports d: stays
    lines = run_check(pkg).stdout.splitlines()
    assert any("jobs.py: squeeze.runs.jobs imports squeeze.train.trainer, a higher layer" in x for x in lines)
    assert any("a.py:2: imports squeeze.study.b inside a function" in x for x in lines)
    assert any("a.py:7: imports json inside a function" in x for x in lines)
    assert not any("a.py:6" in x or "d.py" in x for x in lines)  # ray is an optional extra; d -> c closes a circle
    assert any("trainer.py: squeeze.train.trainer imports squeeze.study.a, a higher layer" in x for x in lines)


def test_old_module_names_are_the_moved_modules_and_warn():
    code = ("import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
            "try:\n    import squeeze.ensemble\nexcept DeprecationWarning as e:\n    print(e)\n"
            "warnings.simplefilter('ignore')\nimport squeeze.ensemble, squeeze.evaluation.ensemble as new\n"
            "from squeeze import perf\nimport squeeze.device.perf\n"
            "print(squeeze.ensemble is new, perf is squeeze.device.perf, new.__spec__.name)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.stdout.splitlines() == ["squeeze.ensemble moved to squeeze.evaluation.ensemble; import it from there",
                                     "True True squeeze.evaluation.ensemble"], r.stderr
