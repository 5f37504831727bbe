"""GGUF in: `squeeze import FILE.gguf --out DIR` and `squeeze run --init FILE.gguf`."""
from pathlib import Path

from squeeze.errors import SqueezeError


def import_once(path: Path, out: Path, sha256: str | None) -> Path:
    raise SqueezeError(f"--init {path}: GGUF import is not implemented yet")
