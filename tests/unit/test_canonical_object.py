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
