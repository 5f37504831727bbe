"""Every bad input we tried and the one line it gets: the rows of the README's "What bad input gets" table.

Each case builds its bad input under tmp_path, runs `squeeze.cli.main(argv)` in this process, and checks exit code
2 and one stderr line `squeeze: error: ...` containing the case's fragment. `test_readme_table_matches` checks
that the README lists exactly these fragments, so the table and the tests cannot drift apart.
"""
import io
import json
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from squeeze.cli import main
from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError
from tests.conftest import synthetic_documents

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--model.n_layer=1", "--model.d_model=32", "--model.n_head=2", "--model.seq_len=32",
        "--train.batch_size=8", "--train.dtype=fp32", "--train.threads=1", "--quiet"]


def _jsonl(docs) -> str:
    return "".join(json.dumps({"text": d.text}) + "\n" for d in docs)


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
    return path


def _parquet(path: Path, **columns) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table(columns), path)
    return str(path)


def _mask(ctx, change=None, keep=None) -> str:
    """A keep-mask file for the tiny store (every document kept, or `keep`), then `change(dict)` applied."""
    from squeeze.data.mask import save_mask
    store = TokenStore.open(ctx["store"])
    path = ctx["tmp"] / "mask.json"
    save_mask(path, store, np.ones(store.meta["n_train_docs"], bool) if keep is None else keep(store))
    if change:
        _edit_json(path, change)
    return f"--data.keep_mask={path}"


def _store(ctx, edit) -> str:
    """A copy of the tiny token store with `edit(dir)` applied."""
    dst = ctx["tmp"] / "store"
    shutil.copytree(ctx["store"], dst)
    edit(dst)
    return str(dst)


def _run(ctx, edit, unfinished: bool = False) -> str:
    """A copy of the finished tiny run with `edit(dir)` applied (and summary.json removed if `unfinished`)."""
    dst = ctx["tmp"] / "run"
    shutil.copytree(ctx["run"], dst)
    if unfinished:
        (dst / "summary.json").unlink()
    edit(dst)
    return str(dst)


def _edit_json(path: Path, change) -> None:
    d = json.loads(path.read_text())
    change(d)
    path.write_text(json.dumps(d))


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def _flip(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if at is None else at
    data[at] ^= 0x10
    path.write_bytes(bytes(data))


def _flip_tensor_bytes(path: Path) -> None:
    """Flip one byte inside the largest tensor record of a torch zip file, so the zip itself stays readable."""
    with zipfile.ZipFile(path) as z:
        info = max(z.infolist(), key=lambda i: i.file_size)
    raw = path.read_bytes()
    name_len, extra_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little"), \
        int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    _flip(path, info.header_offset + 30 + name_len + extra_len + info.file_size // 2)


class _Evil:
    """Unpickling this would create the file named `marker`; weights_only=True must refuse it."""
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _evil_state(run: Path) -> None:
    buf = io.BytesIO()
    torch.save({"step": _Evil(run / "PWNED")}, buf, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    (run / "state.pt").write_bytes(buf.getvalue())


def _model_of_other_shape(run: Path) -> None:
    _edit_json(run / "config.json", lambda d: d["model"].update(d_model=64))


# (id, kind, what, argv builder ctx -> argv, fragment of the error line). `kind` and `what` fill the README table.
CASES = [
    # ---- corpus files (squeeze prepare) ----
    ("empty_txt", "corpus", "empty .txt file",
     lambda c: ["prepare", "--data", str(_write(c["tmp"] / "c.txt", "")), "--out", str(c["tmp"] / "s")],
     "c.txt: corpus is empty (no non-blank documents)"),
    ("blank_txt", "corpus", ".txt file of blank lines only",
     lambda c: ["prepare", "--data", str(_write(c["tmp"] / "c.txt", "\n \n\t\n")), "--out", str(c["tmp"] / "s")],
     "corpus is empty"),
    ("non_utf8", "corpus", "non-UTF-8 bytes in a .txt file (Latin-1 text)",
     lambda c: ["prepare", "--data", str(_write(c["tmp"] / "c.txt", b"hello\nna\xefve\n")), "--out",
                str(c["tmp"] / "s")],
     "c.txt: invalid UTF-8 at byte 8 (line 2)"),
    ("binary_ext", "corpus", "binary file (`.bin`, `.gz`, ...)",
     lambda c: ["prepare", "--data", str(_write(c["tmp"] / "c.bin", b"\x00\x01")), "--out", str(c["tmp"] / "s")],
     "c.bin: unsupported corpus type '.bin'"),
    ("missing_corpus", "corpus", "path that does not exist",
     lambda c: ["prepare", "--data", str(c["tmp"] / "nope.txt"), "--out", str(c["tmp"] / "s")],
     "nope.txt: no such file or directory"),
    ("bad_jsonl", "corpus", ".jsonl line that is not JSON",
     lambda c: ["prepare", "--data", str(_write(c["tmp"] / "c.jsonl", '{"text": "a"}\n{oops\n')), "--out",
                str(c["tmp"] / "s")],
     "c.jsonl:2: not valid JSON"),
    ("jsonl_no_field", "corpus", ".jsonl object without the text field",
     lambda c: ["prepare", "--data", str(_write(c["tmp"] / "c.jsonl", '{"body": "a"}\n')), "--out",
                str(c["tmp"] / "s")],
     "c.jsonl:1: no string field 'text'"),
    ("jsonl_not_string", "corpus", ".jsonl text field that is a number / a line that is an array",
     lambda c: ["prepare", "--data", str(_write(c["tmp"] / "c.jsonl", '{"text": 5}\n[1]\n')), "--out",
                str(c["tmp"] / "s")],
     "c.jsonl:1: no string field 'text'"),
    ("jsonl_surrogate", "corpus", ".jsonl text with a lone surrogate escape (`\\ud800`)",
     lambda c: ["prepare", "--data", str(_write(c["tmp"] / "c.jsonl", '{"text": "a\\ud800b"}\n')), "--out",
                str(c["tmp"] / "s")],
     "c.jsonl:1: field 'text' is not valid Unicode (surrogates not allowed at character 1)"),
    ("deep_jsonl", "corpus", ".jsonl line nested 100,000 levels deep",
     lambda c: ["prepare", "--data", str(_write(c["tmp"] / "c.jsonl", "[" * 100_000 + "\n")), "--out",
                str(c["tmp"] / "s")],
     "c.jsonl:1: not valid JSON"),
    ("parquet_garbage", "corpus", "`.parquet` file that is not Parquet",
     lambda c: ["prepare", "--data", str(_write(c["tmp"] / "c.parquet", b"PAR1 not really")), "--out",
                str(c["tmp"] / "s")],
     "c.parquet: not a readable parquet file"),
    ("parquet_no_column", "corpus", "`.parquet` file without the text column",
     lambda c: ["prepare", "--data", _parquet(c["tmp"] / "c.parquet", body=["a", "b"]), "--out", str(c["tmp"] / "s")],
     "c.parquet: no column 'text' (columns: body); pass --text-field"),
    ("parquet_not_text", "corpus", "`.parquet` text column of numbers",
     lambda c: ["prepare", "--data", _parquet(c["tmp"] / "c.parquet", text=[1, 2]), "--out", str(c["tmp"] / "s")],
     "c.parquet:0: field 'text' is int, not text"),
    ("empty_folder", "corpus", "empty folder (or one without .txt files)",
     lambda c: ["prepare", "--data", str(_write(c["tmp"] / "f" / "x.md", "text").parent), "--out",
                str(c["tmp"] / "s")],
     "f: corpus is empty"),
    ("folder_non_utf8", "corpus", "folder with a non-UTF-8 .txt file",
     lambda c: ["prepare", "--data", str(_write(c["tmp"] / "f" / "b.txt", b"\xff").parent), "--out",
                str(c["tmp"] / "s")],
     "b.txt: invalid UTF-8 at byte 0 (line 1)"),
    ("one_document", "corpus", "one document only (no validation split possible)",
     lambda c: ["prepare", "--data", str(_write(c["tmp"] / "c.txt", "just one document\n")), "--out",
                str(c["tmp"] / "s")],
     "corpus too small: 1 document(s); need at least 2"),
    ("store_exists", "corpus", "`--out` that already holds a token store",
     lambda c: ["prepare", "--data", str(c["corpus"]), "--out", c["store"]],
     "already holds a token store (meta.json)"),
    ("small_vocab", "corpus", "`--vocab-size 100`",
     lambda c: ["prepare", "--data", str(c["corpus"]), "--out", str(c["tmp"] / "s"), "--vocab-size", "100"],
     "--vocab-size 100: must be in [257, 1048576]"),
    ("val_fraction", "corpus", "`--val-fraction 1.5`",
     lambda c: ["prepare", "--data", str(c["corpus"]), "--out", str(c["tmp"] / "s"), "--val-fraction", "1.5"],
     "--val-fraction 1.5: must be in (0.0, 1.0)"),
    ("bad_tokenizer", "corpus", "`--tokenizer` file that is not a tokenizer.json",
     lambda c: ["prepare", "--data", str(c["corpus"]), "--out", str(c["tmp"] / "s"), "--tokenizer",
                str(_write(c["tmp"] / "tok.json", "{}"))],
     "tok.json: not a valid tokenizer.json"),
    # ---- configs (squeeze train --config FILE) ----
    ("config_not_json", "config", "config file that is not JSON",
     lambda c: ["train", "--config", str(_write(c["tmp"] / "c.json", "lr = 3")), "--out", str(c["tmp"] / "r")],
     "c.json: not valid JSON"),
    ("config_missing", "config", "config file that does not exist",
     lambda c: ["train", "--config", str(c["tmp"] / "none.json"), "--out", str(c["tmp"] / "r")],
     "none.json: no such file"),
    ("config_list", "config", "config that is a JSON list, not an object",
     lambda c: ["train", "--config", str(_write(c["tmp"] / "c.json", "[]")), "--out", str(c["tmp"] / "r")],
     "c.json: expected a JSON object"),
    ("config_section", "config", "unknown section",
     lambda c: ["train", "--config", str(_write(c["tmp"] / "c.json", '{"optim": {}}')), "--out",
                str(c["tmp"] / "r")],
     "c.json: optim: unknown section"),
    ("config_key", "config", "unknown key (a typo)",
     lambda c: ["train", "--config", str(_write(c["tmp"] / "c.json", '{"train": {"wieght_decay": 1}}')),
                "--out", str(c["tmp"] / "r")],
     "c.json: train.wieght_decay: unknown field"),
    ("config_type", "config", "wrong type (`\"lr\": \"fast\"`)",
     lambda c: ["train", "--config", str(_write(c["tmp"] / "c.json", '{"train": {"lr": "fast"}}')), "--out",
                str(c["tmp"] / "r")],
     "c.json: train.lr: expected float, got str 'fast'"),
    ("config_nan", "config", "NaN or a number past 1e308 for a float",
     lambda c: ["train", "--config", str(_write(c["tmp"] / "c.json", '{"train": {"lr": NaN}}')), "--out",
                str(c["tmp"] / "r")],
     "c.json: train.lr: expected a finite number, got nan"),
    ("config_value", "config", "value out of range (`\"dropout\": 1.5`)",
     lambda c: ["train", "--config", str(_write(c["tmp"] / "c.json", '{"model": {"dropout": 1.5}}')), "--out",
                str(c["tmp"] / "r")],
     "c.json: model.dropout=1.5 must be in [0, 1)"),
    ("config_heads", "config", "inconsistent fields (`d_model` 30, `n_head` 4)",
     lambda c: ["train", "--config", str(_write(c["tmp"] / "c.json", '{"model": {"d_model": 30}}')), "--out",
                str(c["tmp"] / "r")],
     "model.d_model=30 must be divisible by model.n_head=4"),
    # ---- token stores (squeeze train --data STORE) ----
    ("store_no_meta", "token store", "folder without meta.json",
     lambda c: ["train", "--data", _store(c, lambda d: (d / "meta.json").unlink()), "--out", str(c["tmp"] / "r")],
     "not a token store (no meta.json); run `squeeze prepare` first"),
    ("store_meta_json", "token store", "meta.json that is not JSON",
     lambda c: ["train", "--data", _store(c, lambda d: _truncate(d / "meta.json")), "--out", str(c["tmp"] / "r")],
     "meta.json: not valid JSON"),
    ("store_version", "token store", "meta.json of another format version",
     lambda c: ["train", "--data", _store(c, lambda d: _edit_json(d / "meta.json", lambda m: m.update(version=99))),
                "--out", str(c["tmp"] / "r")],
     "not a version-1 squeeze token store; prepare it again"),
    ("store_meta_field", "token store", "meta.json missing a field",
     lambda c: ["train", "--data", _store(c, lambda d: _edit_json(d / "meta.json", lambda m: m.pop("train_tokens"))),
                "--out", str(c["tmp"] / "r")],
     "field 'train_tokens' missing or not a non-negative integer"),
    ("store_missing_array", "token store", "an array file deleted",
     lambda c: ["train", "--data", _store(c, lambda d: (d / "val.bin").unlink()), "--out", str(c["tmp"] / "r")],
     "val.bin: missing from the token store"),
    ("store_truncated", "token store", "truncated train.bin",
     lambda c: ["train", "--data", _store(c, lambda d: _truncate(d / "train.bin")), "--out", str(c["tmp"] / "r")],
     "train.bin: truncated or corrupted"),
    ("store_flipped", "token store", "one flipped bit in train.bin (same size)",
     lambda c: ["train", "--data", _store(c, lambda d: _flip(d / "train.bin")), "--out", str(c["tmp"] / "r")],
     "train.bin: checksum mismatch"),
    ("store_tokenizer", "token store", "tokenizer.json replaced",
     lambda c: ["train", "--data", _store(c, lambda d: _edit_json(d / "tokenizer.json",
                                                                    lambda t: t.update(version="9"))),
                "--out", str(c["tmp"] / "r")],
     "tokenizer.json: checksum mismatch"),
    ("store_vocab", "token store", "`--model.vocab_size` that differs from the store's",
     lambda c: ["train", "--data", c["store"], "--out", str(c["tmp"] / "r"), "--model.vocab_size=999"],
     "token store has vocabulary 300, but model.vocab_size=999"),
    # ---- keep-masks (squeeze train --data STORE --data.keep_mask=FILE) ----
    ("mask_missing", "keep-mask", "mask file that does not exist",
     lambda c: ["train", "--data", c["store"], "--out", str(c["tmp"] / "r"), "--data.keep_mask=nomask.json"],
     "nomask.json: no such keep-mask file"),
    ("mask_not_json", "keep-mask", "mask file that is not JSON",
     lambda c: ["train", "--data", c["store"], "--out", str(c["tmp"] / "r"),
                f"--data.keep_mask={_write(c['tmp'] / 'm.json', '0101')}"],
     "m.json: not a keep-mask (not valid JSON)"),
    ("mask_format", "keep-mask", "JSON that is not a keep-mask (or another version)",
     lambda c: ["train", "--data", c["store"], "--out", str(c["tmp"] / "r"),
                _mask(c, lambda d: d.update(version=2))],
     "mask.json: not a version-1 squeeze keep-mask"),
    ("mask_other_store", "keep-mask", "mask made for another token store",
     lambda c: ["train", "--data", c["store"], "--out", str(c["tmp"] / "r"),
                _mask(c, lambda d: d.update(store_fingerprint="0" * 24))],
     "mask.json: made for another token store"),
    ("mask_flags", "keep-mask", "mask whose flags are not a 0/1 string of the right length",
     lambda c: ["train", "--data", c["store"], "--out", str(c["tmp"] / "r"),
                _mask(c, lambda d: d.update(keep=d["keep"][:-1] + "2"))],
     "mask.json: field 'keep' must be a string of"),
    ("mask_empty", "keep-mask", "mask that keeps no document",
     lambda c: ["train", "--data", c["store"], "--out", str(c["tmp"] / "r"),
                _mask(c, keep=lambda st: np.zeros(st.meta["n_train_docs"], bool))],
     "mask.json: keeps 0 tokens inside the budget; need at least 2"),
    # ---- checkpoints (squeeze eval RUN, squeeze train --resume) ----
    ("no_run", "checkpoint", "`eval` of a folder that is not a run",
     lambda c: ["eval", str(c["tmp"])], "not a run directory (no config.json)"),
    ("weights_missing", "checkpoint", "model.safetensors missing",
     lambda c: ["eval", _run(c, lambda d: (d / "model.safetensors").unlink())], "no model.safetensors yet"),
    ("weights_truncated", "checkpoint", "truncated model.safetensors",
     lambda c: ["eval", _run(c, lambda d: _truncate(d / "model.safetensors"))],
     "model.safetensors: cannot load weights"),
    ("weights_flipped", "checkpoint", "one flipped bit in model.safetensors' tensors",
     lambda c: ["eval", _run(c, lambda d: _flip(d / "model.safetensors", -9))],
     "model.safetensors: checksum mismatch (corrupted weights)"),
    ("weights_shape", "checkpoint", "weights of another shape than config.json",
     lambda c: ["eval", _run(c, _model_of_other_shape)], "model.safetensors: cannot load weights"),
    ("run_config", "checkpoint", "run's config.json corrupted",
     lambda c: ["eval", _run(c, lambda d: _truncate(d / "config.json"))], "config.json: not valid JSON"),
    ("state_truncated", "checkpoint", "truncated state.pt on `--resume`",
     lambda c: ["train", "--out", _run(c, lambda d: _truncate(d / "state.pt"), unfinished=True), "--resume"],
     "state.pt: corrupted checkpoint"),
    ("state_flipped", "checkpoint", "one flipped bit in state.pt's tensors on `--resume`",
     lambda c: ["train", "--out", _run(c, lambda d: _flip_tensor_bytes(d / "state.pt"), unfinished=True),
                "--resume"],
     "state.pt: checksum mismatch (corrupted checkpoint)"),
    ("state_pickle", "checkpoint", "state.pt holding a pickled object that runs code when unpickled",
     lambda c: ["train", "--out", _run(c, _evil_state, unfinished=True), "--resume"],
     "state.pt: corrupted checkpoint (UnpicklingError)"),
    ("state_not_dict", "checkpoint", "state.pt that is a bare tensor",
     lambda c: ["train", "--out", _run(c, lambda d: torch.save(torch.zeros(3), d / "state.pt"), unfinished=True),
                "--resume"],
     "state.pt: not a squeeze checkpoint (a Tensor, not a dict)"),
    ("resume_finished", "checkpoint", "`--resume` of a finished run",
     lambda c: ["train", "--out", _run(c, lambda d: None), "--resume"], "finished run (summary.json exists)"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, tiny_store, tiny_run, tmp_path, capsys, monkeypatch):
    name, _, _, build, fragment = case
    monkeypatch.chdir(tmp_path)
    corpus = _write(tmp_path / "in" / "corpus.jsonl", _jsonl(synthetic_documents(20)))
    argv = build({"tmp": tmp_path, "store": str(tiny_store), "run": tiny_run, "corpus": corpus})
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(err) == 1 and err[0].startswith("squeeze: error: "), err
    assert fragment in err[0], err[0]
    assert not (tmp_path / "run" / "PWNED").exists()  # nothing was unpickled


def test_pickled_array_in_store_is_refused(tiny_store, tmp_path):
    """A store array replaced by an object (pickled) .npy is refused, even without verify (allow_pickle=False)."""
    dst = tmp_path / "s"
    shutil.copytree(tiny_store, dst)
    n = len(np.load(dst / "train_bytes.npy"))
    np.save(dst / "train_bytes.npy", np.array([object()] * n, dtype=object), allow_pickle=True)
    with pytest.raises(SqueezeError, match="train_bytes.npy: truncated or corrupted"):
        TokenStore.open(dst)


def readme_rows(heading: str) -> list[tuple[str, str, str]]:
    """The rows of the 3-column README table under `heading` (to the next heading), its header row left out."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(heading, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("|") and len(cells) == 3 and not set(cells[0]) <= set("-|") and cells[2] != \
                "the error line contains":
            rows.append((cells[0], cells[1], cells[2].removeprefix("`").removesuffix("`")))
    return rows


def test_readme_table_matches():
    """Every case is a README row (kind, input, message fragment) and every row is a case."""
    rows = readme_rows("## What bad input gets")
    expected = [(kind, what, fragment) for _, kind, what, _, fragment in CASES]
    assert rows == expected
    assert len(expected) >= 20


if __name__ == "__main__":  # print the README table
    print("| kind | bad input | the error line contains |\n|---|---|---|")
    for _, kind, what, _, fragment in CASES:
        print(f"| {kind} | {what} | `{fragment}` |")
