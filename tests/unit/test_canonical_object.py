"""The writers' encode-once shortcut (evals.canonical) gives the bytes the core's encoder gives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog.core.encoding import canonical_bytes
from auditlog.errors import InvalidInput
from auditlog.evals.canonical import canonical_object

JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                    max_leaves=10)


@given(st.dictionaries(st.text(), JSON, max_size=6))
def test_joining_canonical_members_is_encoding_the_whole(value: dict) -> None:
    assert canonical_object({key: canonical_bytes(item) for key, item in value.items()}) == canonical_bytes(value)


def test_keys_sort_by_utf16_code_units() -> None:
    members = {"\ue000": b"1", "\U0001f600": b"2", "a": b"3"}  # the astral key sorts below U+E000 in UTF-16
    assert canonical_object(members) == canonical_bytes({"\ue000": 1, "\U0001f600": 2, "a": 3})


@pytest.mark.parametrize("key", ["\ud800", 1])
def test_a_key_that_is_not_text_is_refused(key: object) -> None:
    with pytest.raises(InvalidInput, match="is not a valid JSON string"):
        canonical_object({key: b"1"})  # type: ignore[dict-item]


# Item values as the validation admits them, with the floats the fast path must hand over:
# integral ones (1.0, 1e16 and up), tiny ones (below 1e-4), and -0.0.
_FLOATS = st.floats(min_value=0, allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 1.0, 0.5, 1e-4, 9.99e-5, 3e-5, 1e15, 1e16, 1e17, 2.0**53, 123456789.0])
_SCORES = st.floats(min_value=0, max_value=1) | st.sampled_from([0.0, -0.0, 1.0, 3e-5, 1e-4]) | st.sampled_from([0, 1])
_ITEM = st.fixed_dictionaries(
    {"item_id": st.text(st.characters(blacklist_categories=("Cc",)), min_size=1).filter(str.strip),
     "score": _SCORES, "passed": st.booleans()},
    optional={"latency_ms": _FLOATS | st.integers(0, 2**60), "cost_usd": _FLOATS,
              "tokens": st.integers(0, 2**60), "error": st.text() | st.none(),
              "extra": st.dictionaries(st.text(), JSON, max_size=2) | st.none()})


_METRICS = st.dictionaries(st.text(max_size=3), st.floats(allow_nan=False, allow_infinity=False)
                           | st.integers(-(2**60), 2**60) | _FLOATS, max_size=4)


@given(st.lists(_ITEM, max_size=5, unique_by=lambda item: item["item_id"]), _METRICS)
def test_a_run_encoded_once_is_the_run_canonical_bytes(items: list, metrics: dict) -> None:
    from auditlog.evals.runs import prepare_run
    doc = {"project_id": "p", "model_id": "m", "run_id": "r", "metrics": metrics, "items": items}
    try:
        prepared = prepare_run(doc, environment={"python": "3.11"})
    except InvalidInput as exc:  # the validation's refusal (an id with a control character), or the encoder's
        assert exc.field.startswith(("$.items[", "$.metrics"))
        return
    assert prepared.canonical == canonical_bytes(prepared.run)
    submitted = {key: value for key, value in prepared.run.items() if key != "environment"}
    import hashlib
    assert prepared.document_sha256 == hashlib.sha256(canonical_bytes(submitted)).hexdigest()


@given(st.text() | st.integers(-(2**60), 2**60) | st.booleans() | st.none())
def test_a_scalar_member_is_its_canonical_bytes(value: object) -> None:
    from auditlog.evals.canonical import canonical_scalar
    try:
        expected = canonical_bytes(value)
    except InvalidInput:
        with pytest.raises(InvalidInput):
            canonical_scalar(value)
        return
    assert canonical_scalar(value) == expected


@pytest.mark.parametrize("field", ["item_id", "error"])
def test_a_lone_surrogate_in_an_item_is_named_at_its_path_in_the_run(field: str) -> None:
    """The items' one-call encoding falls back to the core's encoder, whose paths start at the items list:
    the refusal names the item within the run (hypothesis found `$[0].item_id`)."""
    from auditlog.evals.runs import prepare_run
    item = {"item_id": "q1", "score": 0.5, "passed": True, field: "a\ud800"}
    doc = {"project_id": "p", "model_id": "m", "run_id": "r", "items": [{"item_id": "q0", "score": 1, "passed": True},
                                                                        item]}
    with pytest.raises(InvalidInput) as refused:
        prepare_run(doc, environment={"python": "3.11"})
    assert refused.value.field == f"$.items[1].{field}" and "surrogate" in refused.value.reason
