import json
import re

import pytest

from squeeze import config as C
from squeeze.errors import SqueezeError


def test_overrides_parse_and_type_check():
    c = C.apply_overrides(C.Config(), ["--train.weight_decay=1.6", "model.n_layer=6", "train.compile=true",
                                       "train.schedule=wsd", "train.lr=3"])
    assert c.train.weight_decay == 1.6 and c.model.n_layer == 6 and c.train.compile == "on"
    assert c.train.schedule == "wsd" and c.train.lr == 3.0 and isinstance(c.train.lr, float)


@pytest.mark.parametrize("override, message", [
    ("--train.wieght_decay=1.6", "train.wieght_decay: unknown field"),
    ("--trian.lr=1", "unknown section 'trian'"),
    ("--model.n_layer=2.5", "model.n_layer: expected int"),
    ("--train.compile=maybe", "train.compile: 'maybe' is not one of auto, on, off"),
    ("--train.schedule=linear", "not one of cosine, wsd, constant"),
    ("--train.lr", "expected --section.field=value"),
    ("--train.lr=-0.1", "train.lr=-0.1 must be >= 0"),
    ("--train.weight_decay=-1", "train.weight_decay=-1.0 must be >= 0"),
    ("--model.d_model=102", "divisible by model.n_head"),
    ("--train.threads=-1", "train.threads, train.eval_tokens and train.final_eval_tokens must be >= 0"),
    ("--train.beta2=1.0", "must be in [0, 1)"),
    ("--model.d_model=100", "must be even (RoPE"),
])
def test_bad_overrides_name_the_field(override, message):
    with pytest.raises(SqueezeError, match=re.escape(message)):
        C.apply_overrides(C.Config(), [override])


def test_json_round_trip(tmp_path):
    c = C.apply_overrides(C.Config(), ["train.epochs=7", "data.budget_tokens=1000"])
    C.save(c, str(tmp_path / "c.json"))
    assert C.load(str(tmp_path / "c.json")) == c


def test_config_file_errors_name_the_file(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"train": {"lr": "fast"}}))
    with pytest.raises(SqueezeError, match=r"c\.json: train\.lr: expected float"):
        C.load(str(p))
    p.write_text(json.dumps({"trainer": {}}))
    with pytest.raises(SqueezeError, match="trainer: unknown section"):
        C.load(str(p))
    p.write_text("{not json")
    with pytest.raises(SqueezeError, match="not valid JSON"):
        C.load(str(p))


def test_every_field_has_help():
    text = C.describe_fields()
    assert "--train.weight_decay" in text and "--model.n_layer" in text and "--data.budget_tokens" in text
