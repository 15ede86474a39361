"""Turn one step's full-vocabulary measures into a TokenRecord."""

from __future__ import annotations

from caveat.engine.vocab import Vocabulary
from caveat.records.measures import TokenMeasures
from caveat.records.types import Alternative, TokenRecord


def make_record(m: TokenMeasures, vocab: Vocabulary, offset: int) -> TokenRecord:
    """The record of token `m.chosen` placed at byte `offset`, with its top alternatives."""
    table = vocab.token_bytes
    return TokenRecord(
        id=m.chosen,
        bytes=table[m.chosen],
        offset=offset,
        logprob=m.logprob,
        entropy=m.entropy,
        margin=m.margin,
        top=tuple(
            Alternative(tid, table[tid], lp)
            for tid, lp in zip(m.top_ids, m.top_logprobs, strict=True)
        ),
    )
