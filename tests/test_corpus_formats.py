"""Optional corpus formats: .parquet (pyarrow) and `datasets` save_to_disk folders, made in the test; a missing
package is a one-line error with the install command."""
import sys

import pytest

from squeeze.cli import main
from squeeze.data.corpus import iter_documents, load_documents
from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError
from tests.conftest import synthetic_documents


def write_parquet(path, **columns):
    pa = pytest.importorskip("pyarrow", reason="parquet input needs pyarrow (pip install 'squeeze[parquet]')")
    import pyarrow.parquet as pq
    pq.write_table(pa.table(columns), path, row_group_size=2)  # several row groups: batches cross them


def test_parquet_rows_become_documents(tmp_path):
    path = tmp_path / "c.parquet"
    write_parquet(path, body=["first doc", None, "   ", "third\n\ndoc", "é"], id=[1, 2, 3, 4, 5])
    docs = load_documents(path, text_field="body")
    assert [(d.name, d.text) for d in docs] == [("c.parquet:0", "first doc"), ("c.parquet:3", "third\n\ndoc"),
                                                 ("c.parquet:4", "é")]
    with pytest.raises(SqueezeError, match=r"no column 'text' \(columns: body, id\); pass --text-field"):
        iter_documents(path)
    with pytest.raises(SqueezeError, match=r"c.parquet:0: field 'id' is int, not text"):
        load_documents(path, text_field="id")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(SqueezeError, match="not a readable parquet file"):
        iter_documents(tmp_path / "bad.parquet")


def test_prepare_from_parquet(tmp_path, capsys):
    path = tmp_path / "c.parquet"
    docs = synthetic_documents(20)
    write_parquet(path, text=[d.text for d in docs])
    assert main(["prepare", "--data", str(path), "--out", str(tmp_path / "s"), "--vocab-size", "300"]) == 0
    store = TokenStore.open(tmp_path / "s")
    assert store.meta["n_train_docs"] + store.meta["n_val_docs"] == 20
    assert store.meta["train_bytes"] + store.meta["val_bytes"] == sum(len(d.text.encode()) for d in docs)


def test_datasets_folders(tmp_path):
    datasets = pytest.importorskip("datasets", reason="datasets folders need datasets (pip install "
                                                      "'squeeze[datasets]')")
    ds = datasets.Dataset.from_dict({"content": ["alpha", "", "beta gamma"], "n": [1, 2, 3]})
    ds.save_to_disk(str(tmp_path / "one"))
    docs = load_documents(tmp_path / "one", text_field="content")
    assert [(d.name, d.text) for d in docs] == [("one:0", "alpha"), ("one:2", "beta gamma")]
    datasets.DatasetDict({"train": ds, "test": ds.select([0])}).save_to_disk(str(tmp_path / "dict"))
    assert [d.text for d in load_documents(tmp_path / "dict", text_field="content")] == ["alpha", "beta gamma"]
    assert [d.text for d in load_documents(tmp_path / "dict" / "test", text_field="content")] == ["alpha"]
    datasets.DatasetDict({"validation": ds}).save_to_disk(str(tmp_path / "nodict"))
    with pytest.raises(SqueezeError, match="without a 'train' split \\(splits: validation\\)"):
        iter_documents(tmp_path / "nodict", text_field="content")
    with pytest.raises(SqueezeError, match="no column 'text'"):
        iter_documents(tmp_path / "one")
    (tmp_path / "plain").mkdir()  # a folder without datasets' files is still a folder of .txt files
    (tmp_path / "plain" / "a.txt").write_text("hello")
    assert [d.text for d in load_documents(tmp_path / "plain")] == ["hello"]


def test_missing_packages_say_how_to_install(tmp_path, monkeypatch):
    (tmp_path / "c.parquet").write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(SqueezeError, match=r"needs the parquet extra: pip install 'squeeze\[parquet\]'"):
        iter_documents(tmp_path / "c.parquet")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "dataset_dict.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(SqueezeError, match=r"pip install 'squeeze\[datasets\]'"):
        iter_documents(tmp_path / "d")
