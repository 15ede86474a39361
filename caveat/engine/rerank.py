"""Uncertainty-guided rerank: what else the model would have written at an uncertain token.

AdaDec's pause-then-rerank ("Towards Better Code Generation: Adaptive Decoding with Uncertainty
Guidance"): take the top-k candidates at an uncertain step, roll each out greedily for a few
tokens, score each by the mean log-probability of candidate + lookahead, rank. Here it serves
hover ("trigger rerank on hover": each alternative completed to the end of its syntax unit) and
adaptive decoding (`decode.py`, rollouts to the end of the line).

All rollouts start from the same context, so the runtime's prefix reuse evaluates the shared
context once and each candidate costs one token plus its lookahead steps.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from caveat.engine.errors import EngineCancelled
from caveat.engine.runtime import Runtime
from caveat.engine.types import Alternative, TokenRecord
from caveat.engine.vocab import Vocabulary
from caveat.scoring.measures import TokenMeasures, token_measures
from caveat.scoring.types import Span, SpanAlternative

if TYPE_CHECKING:
    from caveat.engine.engine import Engine

FloatArray = npt.NDArray[np.float32]
# Where a rollout ends: (text so far, byte offset where each token starts) -> cut offset or None.
StopFn = Callable[[bytes, Sequence[int]], int | None]
# Picks the token of a rollout step from its logits; None means the argmax (greedy).
ChooseFn = Callable[[FloatArray], int | None]

_OPEN = b"([{"
_CLOSE = b")]}"
_QUOTES = b"'\"`"
# Hover rollouts stop at the end of the unit; this bounds the cost when they do not.
HOVER_LOOKAHEAD = 16


@dataclass(frozen=True)
class RankedAlternative:
    """One reranked candidate.

    `text` is the candidate token followed by its greedy rollout, cut at the end of the syntax
    unit (or line). `score` is the mean log-probability of the candidate and its lookahead
    tokens (the ranking key, <= 0). `probability` is the candidate token's own next-token
    probability (summed over candidates merged as equivalent code): the share of the model's
    belief that went this way at the uncertain step. `tokens` are the ids behind `text`.
    """

    text: str
    score: float
    probability: float
    tokens: tuple[int, ...]


@dataclass(frozen=True)
class Rollout:
    """A candidate and the tokens that followed it, with the measures of each lookahead step."""

    tokens: tuple[int, ...]
    logprobs: tuple[float, ...]
    steps: tuple[TokenMeasures, ...]
    text: bytes
    ended: bool

    @property
    def score(self) -> float:
        """Mean log-probability of candidate + lookahead (AdaDec's ranking score)."""
        return sum(self.logprobs) / len(self.logprobs)


def roll_out(
    runtime: Runtime,
    vocab: Vocabulary,
    work: FloatArray,
    context: Sequence[int],
    candidate: int,
    logprob: float,
    *,
    lookahead: int,
    stop: StopFn,
    cancel: threading.Event | None = None,
    choose: ChooseFn | None = None,
    top_k: int = 5,
) -> Rollout:
    """Append `candidate` to `context` and decode up to `lookahead` more tokens.

    The text is cut where `stop` says; tokens starting at or after the cut are dropped (the
    candidate is always kept). The cancel flag is checked before every model evaluation and
    raises EngineCancelled. Leaves the runtime holding the rollout (callers re-sync).
    """
    tokens = [candidate]
    logprobs = [logprob]
    steps: list[TokenMeasures] = []
    text = bytearray(vocab.token_bytes[candidate])
    starts = [0]
    ended = bool(vocab.is_control[candidate])
    cut = None if ended else stop(bytes(text), starts)
    if cut is not None or ended:
        kept = bytes(text[:cut]) if cut is not None else b""
        return Rollout((candidate,), (logprob,), (), kept, True)
    _check(cancel)
    runtime.sync([*context, candidate])
    while len(tokens) <= lookahead:
        logits = runtime.logits()
        m = token_measures(logits, None if choose is None else choose(logits), top_k, work)
        if vocab.is_control[m.chosen]:
            ended = True
            break
        starts.append(len(text))
        text += vocab.token_bytes[m.chosen]
        tokens.append(m.chosen)
        logprobs.append(m.logprob)
        steps.append(m)
        cut = stop(bytes(text), starts)
        if cut is not None:
            keep = max(1, sum(1 for s in starts if s < cut))
            del tokens[keep:], logprobs[keep:], steps[keep - 1 :], text[cut:]
            ended = True
            break
        if len(tokens) > lookahead:
            break
        _check(cancel)
        runtime.append(m.chosen)
    return Rollout(tuple(tokens), tuple(logprobs), tuple(steps), bytes(text), ended)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise EngineCancelled("rerank cancelled")


def line_stop(text: bytes, starts: Sequence[int]) -> int | None:
    """Cut after the first newline that follows some code (AdaDec: stop early at a line end)."""
    nl = text.find(b"\n", len(text) - len(text.lstrip()))
    return None if nl < 0 else nl + 1


def unit_stop(
    depth0: int = 0, rest: str = "", language: str | None = None, inner: str = ""
) -> StopFn:
    """A StopFn that cuts at the end of the syntax unit a candidate starts or continues.

    `depth0` is the bracket depth already open inside the unit before the candidate (`range(`
    has 1); the unit ends where that depth closes, where a bracket opened outside the unit
    closes, at a separator (`,` `;`, Python's `:`, a newline) on the unit's own level, or where
    the rollout starts reproducing `rest`, the document text that follows the unit. Separators
    that occur in `inner` (the rest of the original unit) belong to the unit and do not cut.
    """
    seps = b",;:" if (language or "").lower() in ("python", "py") else b",;"
    seps = bytes(c for c in seps if chr(c) not in inner)
    newline_ends = "\n" not in inner
    tail = rest.encode("utf-8").lstrip(b" \t")

    def stop(text: bytes, starts: Sequence[int]) -> int | None:
        depth, quote, escaped = depth0, 0, False
        bounds = set(starts[1:])
        for i, ch in enumerate(text):
            if i in bounds and depth == depth0 and tail and quote == 0:
                ahead = text[i:].lstrip(b" \t")
                if ahead and (tail.startswith(ahead) or ahead.startswith(tail)):
                    return i
            if quote:
                escaped = ch == 0x5C and not escaped
                if ch == quote and not escaped:
                    quote = 0
                continue
            if ch in _QUOTES:
                quote = ch
            elif ch in _OPEN:
                depth += 1
            elif ch in _CLOSE:
                depth -= 1
                if depth < 0:
                    return i
                if depth == 0 and depth0 > 0:
                    return i + 1
            elif depth == 0 and (ch in seps or (ch == 0x0A and newline_ends and text[:i].strip())):
                return i
        return None

    return stop


def normalize_code(text: str) -> str:
    """Key under which two snippets are the same code: no whitespace, one quote style."""
    return "".join(text.split()).replace("'", '"')


def merge_ranked(items: Sequence[RankedAlternative]) -> list[RankedAlternative]:
    """Merge equivalent snippets (best score keeps its text; probabilities add); rank them."""
    groups: dict[str, RankedAlternative] = {}
    for item in items:
        key = normalize_code(item.text)
        old = groups.get(key)
        if old is None:
            groups[key] = item
            continue
        best = item if item.score > old.score else old
        groups[key] = RankedAlternative(
            best.text, best.score, old.probability + item.probability, best.tokens
        )
    return sorted(groups.values(), key=lambda a: (-a.score, -a.probability))


def _log_z(logits: FloatArray) -> float:
    """log of the softmax normaliser of one logits row (float64 for accuracy)."""
    x = logits.astype(np.float64)
    m = float(x.max())
    return m + math.log(float(np.exp(x - m).sum()))


def context_tokens(engine: Engine, prefix: str) -> list[int]:
    """BOS (when the model wants it) and the tokens of `prefix`."""
    bos = [engine.info.bos] if engine.add_bos and engine.info.bos >= 0 else []
    return [*bos, *engine.vocab.encode(prefix.encode("utf-8"))]


def rerank(
    engine: Engine,
    prefix: str,
    candidates: Sequence[Alternative] | None = None,
    *,
    span_end_text: str = "",
    k: int = 3,
    lookahead: int = 5,
    cancel: threading.Event | None = None,
    language: str | None = None,
    depth0: int = 0,
    inner: str = "",
) -> list[RankedAlternative]:
    """Rank what the model would write after `prefix`, each candidate completed to a unit end.

    `prefix` is the document text up to the uncertain token; `candidates` default to the top-k
    tokens there (given ones are re-scored in this context and the first k kept).
    `span_end_text` is the document text after the unit (rollouts stop where they rejoin it),
    `depth0` the bracket depth open inside the unit before the candidate and `inner` the rest
    of the original unit after the uncertain token (see `unit_stop`). Equivalent snippets
    (whitespace/quote-insensitive) are merged; empty ones dropped. Best first. Raises
    EngineCancelled when `cancel` is set (checked before every model evaluation).
    """
    context = context_tokens(engine, prefix)
    if len(context) + lookahead + 2 >= engine.n_ctx:
        context = context[len(context) - (engine.n_ctx - lookahead - 3) :]
    _check(cancel)
    engine.runtime.sync(context)
    logits = engine.runtime.logits()
    if candidates is None:
        m = token_measures(logits, None, k, engine._work)
        picked = list(zip(m.top_ids, m.top_logprobs, strict=True))
    else:
        lz = _log_z(logits)
        picked = [(c.id, float(logits[c.id]) - lz) for c in candidates[:k]]
    stop = unit_stop(depth0, span_end_text, language, inner)
    out: list[RankedAlternative] = []
    for tok, lp in picked:
        r = roll_out(
            engine.runtime,
            engine.vocab,
            engine._work,
            context,
            tok,
            lp,
            lookahead=lookahead,
            stop=stop,
            cancel=cancel,
        )
        text = r.text.decode("utf-8", errors="replace")
        if text.strip():
            out.append(RankedAlternative(text, r.score, math.exp(lp), r.tokens))
    return merge_ranked(out)


def bracket_depth(text: str) -> int:
    """Net count of brackets opened in `text` (quotes not tracked: spans are short)."""
    return sum(text.count(c) for c in "([{") - sum(text.count(c) for c in ")]}")


def error_count(data: bytes, language: str | None) -> int | None:
    """ERROR plus MISSING nodes in the parse of `data`, or None without a grammar."""
    # Imported here: the decode loop imports this module and needs no grammar.
    import tree_sitter as ts

    from caveat.grammars.registry import get_grammar

    grammar = get_grammar(language)
    if grammar is None:
        return None
    tree = ts.Parser(grammar.language).parse(data)
    count = 0
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            count += 1
        if node.has_error:
            stack.extend(node.children)
    return count


def span_alternatives(
    engine: Engine,
    text: str,
    span: Span,
    records: Sequence[TokenRecord],
    *,
    k: int = 3,
    language: str | None = None,
    cancel: threading.Event | None = None,
    start_byte: int = 0,
) -> tuple[SpanAlternative, ...]:
    """Replacements for `span` in `text`: the other top tokens at its worst token, reranked.

    `records` are a scan's or a completion's, their offsets bytes from `start_byte` of `text`
    (0 for a scan; the insertion point for a completion, as in `find_spans`). Each alternative
    is the span's text before the worst token plus a candidate completed to the end of the
    unit; alternatives that equal the span, or (with a grammar) add a syntax error to the
    document, are dropped.
    """
    worst = records[span.worst_token]
    data = text.encode("utf-8")
    span_start = len(text[: span.start].encode("utf-8"))
    span_end = len(text[: span.end].encode("utf-8"))
    tok_start = min(worst.offset + start_byte, span_end)
    head = data[span_start:tok_start].decode("utf-8", errors="replace")
    others = [a for a in worst.top if a.id != worst.id][:k]
    ranked = rerank(
        engine,
        data[:tok_start].decode("utf-8", errors="replace"),
        others,
        span_end_text=text[span.end :],
        k=k,
        lookahead=HOVER_LOOKAHEAD,
        cancel=cancel,
        language=language,
        depth0=bracket_depth(head),
        inner=data[worst.end + start_byte : span_end].decode("utf-8", errors="replace"),
    )
    original = text[span.start : span.end]
    base_errors = error_count(data, language)
    out: list[SpanAlternative] = []
    for alt in ranked:
        new = (head + alt.text) if worst.offset + start_byte >= span_start else alt.text.lstrip()
        new = new.strip()
        if not new or normalize_code(new) == normalize_code(original):
            continue
        if base_errors is not None:
            doc = (text[: span.start] + new + text[span.end :]).encode("utf-8")
            if (error_count(doc, language) or 0) > base_errors:
                continue
        out.append(SpanAlternative(new, alt.probability, alt.score))
    return tuple(out)
