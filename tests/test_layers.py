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
