"""The text diff a plan shows: a new file's, made without difflib, is exactly difflib's."""

from __future__ import annotations

import difflib

from hypothesis import given
from hypothesis import strategies as st

from provision.planview import _text_lines


def by_difflib(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after",
                                n=2, lineterm="")
    return list(diff)[2:]


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_a_new_files_diff_is_difflibs(after: str) -> None:
    assert list(_text_lines("", after)) == by_difflib("", after)


@given(st.text(max_size=80), st.text(max_size=80))
def test_any_other_diff_is_difflibs(before: str, after: str) -> None:
    assert list(_text_lines(before, after)) == by_difflib(before, after)


def test_the_hunk_header_counts_the_lines() -> None:
    assert list(_text_lines("", "one\n")) == ["@@ -0,0 +1 @@", "+one"]
    assert list(_text_lines("", "a\nb\nc")) == ["@@ -0,0 +1,3 @@", "+a", "+b", "+c"]
    assert list(_text_lines("", "")) == []
