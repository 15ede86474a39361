"""Token records from what a serving engine streams: the chosen token and its top k.

llama.cpp's server (`/completion`, and `/v1/completions` under `logprobs.content`) sends, per
token, `{id, bytes, logprob, top_logprobs: [{id, bytes, logprob}, ...]}` with raw (pre-sampling)
log-probabilities over the full vocabulary when `post_sampling_probs` is false. From that the
log-probability, the margin and the alternatives are exact; the entropy is only bounded
(`entropy_bounds`), and the record says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from caveat.engine.remote.tokenizer import PieceTable, piece_bytes
from caveat.records.measures import TokenMeasures, entropy_bounds
from caveat.records.types import Alternative, TokenRecord


@dataclass(frozen=True)
class RemoteStep:
    """One streamed token: its measures, the bytes it added to the text, the entropy bounds."""

    measures: TokenMeasures
    data: bytes
    bounds: tuple[float, float]
    top: tuple[Alternative, ...]

    def record(self, offset: int, top_k: int) -> TokenRecord:
        """The token record at byte `offset`, keeping `top_k` alternatives."""
        m = self.measures
        return TokenRecord(
            id=m.chosen,
            bytes=self.data,
            offset=offset,
            logprob=m.logprob,
            entropy=m.entropy,
            margin=m.margin,
            top=self.top[:top_k],
            entropy_bounds=self.bounds,
        )


def parse_step(entry: Mapping[str, Any], pieces: PieceTable) -> RemoteStep:
    """Read one `completion_probabilities` entry (llama.cpp's format) into a RemoteStep.

    The entry's bytes are what the server appended to the text at this token: usually the
    token's piece, more when it held back the start of a character split across tokens (that
    token then has no entry of its own).
    """
    top: list[Alternative] = []
    for alt in entry.get("top_logprobs", []):
        tid = int(alt["id"])
        raw = piece_bytes(alt.get("bytes", alt.get("token", "")))
        pieces.learn(tid, raw)
        top.append(Alternative(tid, raw, float(alt["logprob"])))
    return make_step(
        int(entry["id"]),
        float(entry.get("logprob", -math.inf)),
        piece_bytes(entry.get("bytes", entry.get("token", ""))),
        top,
        len(pieces),
    )


def make_step(
    chosen: int, logprob: float, data: bytes, top: list[Alternative], n_vocab: int
) -> RemoteStep:
    """A step from the chosen token and the top k the server listed (in any order)."""
    # Best first, lower id on ties: the order the in-process measures use.
    top = sorted(top, key=lambda a: (-a.logprob, a.id))
    lps = [a.logprob for a in top]
    if chosen not in {a.id for a in top}:
        lps.append(logprob)
    low, high = entropy_bounds(lps, n_vocab)
    margin = top[0].logprob - top[1].logprob if len(top) > 1 else math.inf
    measures = TokenMeasures(
        chosen=chosen,
        logprob=logprob,
        entropy=low,
        margin=margin,
        top_ids=tuple(a.id for a in top),
        top_logprobs=tuple(a.logprob for a in top),
    )
    return RemoteStep(measures, data, (low, high), tuple(top))
