"""Property-based tests: random bytes and random JSON never get past the readers as anything but a SqueezeError.

The corpus readers (.txt, .jsonl, folder), the config parser (JSON objects, files, `--section.field=value`
strings) and the token store's meta.json either succeed or raise SqueezeError, never another exception, and each
example finishes within its hypothesis deadline (no hang). Examples are few and small so the file runs in seconds.
"""
import json
import shutil
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squeeze import config as config_mod
from squeeze.data.corpus import load_documents
from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError

FUZZ = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    # no subnormals: the trainer sets torch.set_flush_denormal(True) process-wide, and hypothesis refuses to
    # draw floats it cannot represent once an earlier test in this process has trained
    st.none() | st.booleans() | st.integers() | st.floats(allow_subnormal=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)

# configs that look like configs: real section and field names with random values, so the type checks are reached
_FIELDS = {name: [f.name for f in config_mod.dataclasses.fields(cls)] for name, cls in config_mod.SECTIONS.items()}
config_like = st.dictionaries(
    st.sampled_from([*_FIELDS, "recipe", "bogus"]),
    st.one_of(json_values, st.builds(
        dict, st.lists(st.tuples(st.sampled_from(sum(_FIELDS.values(), []) + ["nope"]), json_values), max_size=4))),
    max_size=4)


def _clean(call) -> None:
    """Run `call`; a SqueezeError is a clean refusal, anything else propagates and fails the test."""
    try:
        return call()
    except SqueezeError as e:
        assert str(e) and "\n" not in str(e)  # one line


def _documents(path, **kw) -> None:
    """Read a corpus; what comes back must be what the store can take: non-blank text that encodes to UTF-8."""
    docs = _clean(lambda: load_documents(path, **kw))
    for d in docs or []:
        assert d.text.strip() and d.text.encode("utf-8")


@pytest.fixture(scope="module")
def scratch():
    d = Path(tempfile.mkdtemp(prefix="squeeze-fuzz-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".txt", ".jsonl", ".parquet"]))
def test_random_bytes_to_corpus_files(scratch, data, suffix):
    path = scratch / f"c{suffix}"
    path.write_bytes(data)
    _documents(path)


# any code point, lone surrogates included (st.text leaves them out; JSON's \ud800 escapes can spell them)
any_text = st.lists(st.characters() | st.integers(0xD800, 0xDFFF).map(chr), max_size=12).map("".join)
jsonl_line = st.one_of(
    json_values.map(json.dumps),
    st.builds(lambda k, v: json.dumps({k: v}), st.sampled_from(["text", "body"]), json_values | any_text),
    st.text(max_size=30))


@FUZZ
@given(lines=st.lists(jsonl_line, max_size=5), field=st.sampled_from(["text", "body"]))
def test_random_json_lines_to_jsonl(scratch, lines, field):
    path = scratch / "c.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    _documents(path, text_field=field)


@FUZZ
@given(files=st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=6), st.binary(max_size=100),
                             max_size=3))
def test_random_bytes_to_folder(scratch, files):
    root = scratch / "folder"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    for name, data in files.items():
        (root / f"{name}.txt").write_bytes(data)
    _documents(root)


@FUZZ
@given(d=json_values | config_like)
def test_random_json_to_config_parser(d):
    _clean(lambda: config_mod.from_dict(d))


@FUZZ
@given(data=st.binary(max_size=200) | config_like.map(lambda d: json.dumps(d).encode()))
def test_random_config_files(scratch, data):
    path = scratch / "config.json"
    path.write_bytes(data)
    _clean(lambda: config_mod.load(str(path)))


@FUZZ
@given(items=st.lists(st.text(max_size=25) | st.builds(
    lambda s, f, v: f"--{s}.{f}={v}", st.sampled_from(list(_FIELDS)), st.sampled_from(sum(_FIELDS.values(), [])),
    st.text(max_size=8)), max_size=4))
def test_random_overrides(items):
    _clean(lambda: config_mod.apply_overrides(config_mod.Config(), items))


META_KEYS = ["format", "version", "dtype", "vocab_size", "eot_id", "n_train_docs", "n_val_docs", "train_tokens",
             "val_tokens", "tokenizer_fingerprint", "checksums"]


@FUZZ
@given(change=st.dictionaries(st.sampled_from(META_KEYS), json_values | st.integers(-2, 10**5), max_size=3),
       drop=st.lists(st.sampled_from(META_KEYS), max_size=2))
def test_random_meta_json(tiny_store, scratch, change, drop):
    """The real store's meta.json with random fields changed or dropped, the real arrays beside it."""
    root = scratch / "store"
    if not root.exists():
        shutil.copytree(tiny_store, root)
    meta = {**json.loads((tiny_store / "meta.json").read_text()), **change}
    for key in drop:
        meta.pop(key, None)
    (root / "meta.json").write_text(json.dumps(meta))
    _clean(lambda: TokenStore.open(root, verify=True))
    _clean(lambda: TokenStore.open(root))


@FUZZ
@given(change=st.dictionaries(st.sampled_from(["format", "version", "store_fingerprint", "n_train_docs", "keep"]),
                              json_values | st.text("01", max_size=80), max_size=3),
       raw=st.none() | st.binary(max_size=60))
def test_random_keep_masks(tiny_store, scratch, change, raw):
    """A keep-mask file of random bytes, or a real mask with random fields changed."""
    from squeeze.data.mask import load_mask, save_mask
    store = TokenStore.open(tiny_store)
    path = scratch / "mask.json"
    if raw is not None:
        path.write_bytes(raw)
    else:
        save_mask(path, store, [True] * store.meta["n_train_docs"])
        path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    _clean(lambda: load_mask(path, store))
