"""firmware.common.wire: strict decoding at the edge, and schema checks with short reasons."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.common.errors import WireError
from firmware.common.wire import (
    _SPLICE,
    JsonList,
    JsonText,
    clean_json,
    compile_schema,
    decode,
    dumps,
    parse,
)

SCHEMA = {
    "type": "object",
    "required": ["session_id"],
    "properties": {
        "session_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "force_n": {"type": ["object", "null"], "properties": {"mean": {"type": ["number", "null"]}}},
    },
}


@pytest.mark.parametrize(("raw", "reason"), [
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"a": NaN}', "NaN is not a JSON number"),
    (b'{"a": Infinity}', "Infinity is not a JSON number"),
    (b'{"a": 1e400}', "number 1e400 is out of range"),
    (b'[-1.5e999]', "out of range"),
    (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
    (b"[" * 5000 + b"]" * 5000, "nested deeper than 16 levels"),
    (b"[" * 17 + b"]" * 17, "nested deeper than 16 levels"),
    (b'{"a": "x\\u0000y"}', "NUL"),
    (b'{"a": "\\ud800"}', "surrogate"),
    (b'{"\\u0000": 1}', "key with a NUL"),
    (b'{"a": 1', "not valid JSON"),
    (b"x" * 300_000, "larger than"),
])
def test_decode_refuses_with_one_line(raw, reason):
    with pytest.raises(WireError) as e:
        decode(raw)
    assert reason in str(e.value)
    assert "\n" not in str(e.value)


def test_decode_accepts_ordinary_json_and_sixteen_levels():
    assert decode(b'{"a": [1, 2.5, "\\u00e9", null, true]}') == {"a": [1, 2.5, "é", None, True]}
    assert decode("[" * 16 + "]" * 16) == [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]


def test_schema_reason_names_the_field():
    validate = compile_schema(SCHEMA)
    assert parse(b'{"session_id": "s1", "force_n": null}', validate)["session_id"] == "s1"
    with pytest.raises(WireError, match=r"^force_n must be object or null"):
        parse(b'{"session_id": "s1", "force_n": "x"}', validate)
    with pytest.raises(WireError, match="session_id"):
        parse(b'{"force_n": null}', validate)


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
                    lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids), max_leaves=40))
def test_any_value_is_decoded_or_refused_never_anything_else(value):
    raw = json.dumps(value).encode("utf-8", "surrogatepass")
    try:
        decoded = decode(raw)
    except WireError as e:
        assert "\n" not in str(e)
    else:
        assert json.dumps(decoded) == json.dumps(value)


# -- JSON as it is sent: clean_json, dumps, JsonText, JsonList ------------------------------------

def _clean_json_reference(value):
    """clean_json as it was before its fast path for plain values (the one definition)."""
    if isinstance(value, dict):
        return {str(k): _clean_json_reference(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json_reference(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_LEAVES = (st.none() | st.booleans() | st.floats() | st.integers() | st.text()
           | st.floats().map(np.float64) | st.integers(-2**31, 2**31 - 1).map(np.int32)
           | st.booleans().map(np.bool_))
_VALUES = st.recursive(_LEAVES, lambda kids: st.lists(kids) | st.tuples(kids, kids)
                       | st.dictionaries(st.text() | st.integers(), kids), max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_clean_json_is_what_it_always_was(value):
    got, want = clean_json(value), _clean_json_reference(value)
    assert repr(got) == repr(want)  # NaN-free, so repr tells types and values apart
    assert dumps(value) == json.dumps(want, separators=(",", ":"), allow_nan=False, default=str)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | st.floats() | st.integers(), max_size=700),
       st.lists(st.none() | st.floats() | st.integers(), max_size=3))
def test_a_json_list_is_the_text_dumps_gives_its_values(values, more):
    col = JsonList()
    for i, v in enumerate(values, 1):  # across chunks (JsonList.CHUNK values each)
        col.append(v)
        assert dumps({"x": col.text(), "y": 1}) == dumps({"x": values[:i], "y": 1})
    assert col.text(*more).text == dumps([*values, *more])
    assert JsonList(values).text().text == dumps(values)


def test_a_long_json_list_is_right_across_its_chunks():
    values = [None if i % 7 == 0 else (i if i % 5 == 0 else i * 0.1) for i in range(3 * JsonList.CHUNK + 5)]
    col = JsonList()
    for i, v in enumerate(values, 1):
        col.append(v)
        if i % JsonList.CHUNK in (0, 1, JsonList.CHUNK - 1) or i == len(values):
            assert col.text().text == dumps(values[:i])
            assert col.text(math.nan, 2).text == dumps([*values[:i], None, 2])


def test_dumps_writes_json_text_in_place_and_anywhere():
    value = {"a": JsonText("[1,2.5,null]"), "b": [JsonText("{}"), 3, (JsonText("7"),)],
             "c": {"d": JsonText('"x"')}}
    assert dumps(value) == '{"a":[1,2.5,null],"b":[{},3,[7]],"c":{"d":"x"}}'
    assert dumps(JsonText("[]")) == "[]"


def test_dumps_is_not_fooled_by_a_string_that_looks_like_its_marker():
    value = {"a": JsonText("[1]"), "b": _SPLICE, "c": [_SPLICE, JsonText("2")]}
    plain = {"a": [1], "b": _SPLICE, "c": [_SPLICE, 2]}
    assert dumps(value) == dumps(plain)
    assert json.loads(dumps(value))["b"] == _SPLICE
