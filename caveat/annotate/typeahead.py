"""Typed-ahead answers: when the user types what the ghost text showed, show the rest of it.

Editors ask for a completion on nearly every keystroke, and most keystrokes after a completion
type its next characters. The model would only have to say the rest again, so the rest is the
answer: no debounce, no model job. Pure values and functions over text and token records; the
server keeps one `Shown` per document in a `ShownCompletions`.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from caveat.engine.types import Completion, HealingInfo, Timings
from caveat.records.types import TokenRecord

#: Documents whose last completion is remembered (the most recently completed ones).
MAX_DOCUMENTS = 32


@dataclass(frozen=True)
class Shown:
    """The last completion shown in a document (server id), and the text and cursor it answered.

    `key` names what produced it (model and completion settings): a completion made under
    other settings is not an answer for the current ones.
    """

    completion_id: str
    text: str
    offset: int
    completion: Completion
    key: Hashable


def typed_length(shown: Shown, text: str, offset: int) -> int | None:
    """How many chars of the shown completion were typed to get `text` with the cursor at `offset`.

    None unless the text between the old and the new cursor is a prefix of the completion and
    the text before the old cursor and after the new one is unchanged. 0 is a hit too: the same
    document and cursor asked again.
    """
    old = shown.offset
    typed = offset - old
    if typed < 0 or typed > len(shown.completion.text):
        return None
    if len(text) != len(shown.text) + typed:
        return None
    # startswith with a start index compares in place; only the two outer slices are copied.
    if not text.startswith(shown.completion.text[:typed], old):
        return None
    if not text.startswith(shown.text[:old]) or not text.endswith(shown.text[old:]):
        return None
    return typed


def records_after(completion: Completion, chars: int) -> tuple[TokenRecord, ...] | None:
    """The records that lie wholly after the first `chars` chars of the text, offsets shifted.

    A token the user typed into is dropped: its measures scored a choice that the typing has
    partly made, and its alternatives would replace text that is the user's now. None when a
    record's bytes are not the text's bytes at its offset (a lenient decode replaced bytes),
    since then char and byte offsets cannot be matched.
    """
    data = completion.text.encode("utf-8")
    if any(data[r.offset : r.end] != r.bytes for r in completion.records):
        return None
    cut = len(completion.text[:chars].encode("utf-8"))
    return tuple(
        dataclasses.replace(r, offset=r.offset - cut) for r in completion.records if r.offset >= cut
    )


def continuation(shown: Shown, text: str, offset: int, completion_id: str) -> Completion | None:
    """The rest of the shown completion as a completion of its own, or None for the model.

    None also when the rest is empty or only whitespace: typing has reached the end of what was
    shown, and the model has something new to say.
    """
    typed = typed_length(shown, text, offset)
    if typed is None:
        return None
    old = shown.completion
    rest = old.text[typed:]
    if not rest.strip():
        return None
    records = records_after(old, typed)
    if records is None:
        return None
    # No prompt, healing or decoding happened for this answer: its timings are the caller's.
    return Completion(
        id=completion_id,
        text=rest,
        records=records,
        prompt_mode=old.prompt_mode,
        stop_reason=old.stop_reason,
        timings=Timings(),
        healing=HealingInfo(mode="none"),
    )


class ShownCompletions:
    """The last completion shown per document, for the most recently completed documents."""

    def __init__(self, limit: int = MAX_DOCUMENTS) -> None:
        """Remember at most `limit` documents (closing a document needs no bookkeeping)."""
        self.limit = limit
        self._by_uri: OrderedDict[str, Shown] = OrderedDict()

    def remember(self, uri: str, shown: Shown) -> None:
        """Make `shown` the document's last completion."""
        self._by_uri[uri] = shown
        self._by_uri.move_to_end(uri)
        while len(self._by_uri) > self.limit:
            self._by_uri.popitem(last=False)

    def get(self, uri: str) -> Shown | None:
        """The document's last completion, if remembered."""
        return self._by_uri.get(uri)

    def __len__(self) -> int:
        """How many documents are remembered."""
        return len(self._by_uri)
