"""Exact byte-level healing against brute force on a toy BPE tokenizer and a toy LM.

The toy vocabulary is small enough to enumerate every token sequence the toy LM can produce, so
P(next byte | prefix) can be computed by summing over whole sequences and compared with the
cover formula of "Exact Byte-Level Probabilities from Tokenized Language Models" (Phan et al.).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from caveat.engine.healing import heal
from caveat.engine.healing.byte_table import END, ByteTable
from caveat.engine.healing.covers import next_byte_distribution

# Merges in priority order over the alphabet a, b, c. Chosen so that canonical encodings are
# not the longest match: "abc" encodes as ab|c... unless "bc" merges first, etc.
MERGES: tuple[tuple[bytes, bytes], ...] = (
    (b"a", b"b"),
    (b"b", b"c"),
    (b"c", b"a"),
    (b"ab", b"c"),
    (b"a", b"a"),
    (b"ca", b"b"),
)


class ToyBPE:
    """A byte-pair-encoding tokenizer: token 0 is the end token (no bytes)."""

    def __init__(
        self, merges: Sequence[tuple[bytes, bytes]] = MERGES, alphabet: bytes = b"abc"
    ) -> None:
        self.merges = list(merges)
        singles = [bytes([c]) for c in alphabet]
        self.token_bytes: list[bytes] = [b"", *singles] + [a + b for a, b in merges]
        self.n_vocab = len(self.token_bytes)
        self.end = 0
        self._id = {b: i for i, b in enumerate(self.token_bytes) if b}
        self._rank = {m: r for r, m in enumerate(self.merges)}

    def encode(self, data: bytes) -> list[int]:
        """Classic BPE: repeatedly merge the adjacent pair with the best (lowest) rank."""
        parts = [data[i : i + 1] for i in range(len(data))]
        while len(parts) > 1:
            ranks = [
                self._rank.get((parts[i], parts[i + 1]), 1 << 30) for i in range(len(parts) - 1)
            ]
            r = min(ranks)
            if r == 1 << 30:
                break
            i = ranks.index(r)
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        return [self._id[p] for p in parts]

    def decode(self, ids: Sequence[int]) -> bytes:
        """Concatenated bytes of `ids`."""
        return b"".join(self.token_bytes[t] for t in ids)

    def canonical(self, ids: Sequence[int]) -> bool:
        """True when `ids` is the tokenizer's own encoding of its bytes."""
        return self.encode(self.decode(ids)) == list(ids)


class ToyLM:
    """Deterministic pseudo-random next-token distributions, one per context.

    `masked` puts zero mass on tokens that would make the sequence non-canonical (a perfectly
    trained model); unmasked it leaks mass to them. After `max_len` tokens only the end token
    is allowed, which makes the set of sequences finite.
    """

    def __init__(self, tok: ToyBPE, *, max_len: int = 4, masked: bool = True, seed: int = 0):
        self.tok, self.max_len, self.masked, self.seed = tok, max_len, masked, seed
        self.calls = 0
        self._memo: dict[tuple[int, ...], np.ndarray] = {}

    def logprobs(self, context: Sequence[int]) -> np.ndarray:
        """Full-vocabulary log-softmax after `context`."""
        self.calls += 1
        key = tuple(context)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        h = hashlib.sha256(repr((self.seed, key)).encode()).digest()
        rng = np.random.default_rng(int.from_bytes(h[:8], "little"))
        logits = rng.normal(0.0, 1.5, self.tok.n_vocab)
        if len(key) >= self.max_len:
            logits[1:] = -np.inf
        elif self.masked:
            for t in range(1, self.tok.n_vocab):
                if not self.tok.canonical([*key, t]):
                    logits[t] = -np.inf
        m = logits.max()
        out = logits - (m + math.log(np.exp(logits - m).sum()))
        self._memo[key] = out
        return out


def sequences(lm: ToyLM) -> Iterator[tuple[tuple[int, ...], float]]:
    """Every finite sequence (without its end token) and its probability under `lm`."""
    stack: list[tuple[tuple[int, ...], float]] = [((), 0.0)]
    while stack:
        seq, lp = stack.pop()
        row = lm.logprobs(seq)
        if row[0] > -math.inf:
            yield seq, math.exp(lp + row[0])
        for t in range(1, lm.tok.n_vocab):
            if row[t] > -math.inf:
                stack.append(((*seq, t), lp + row[t]))


def brute_next_byte(
    lm: ToyLM, x: bytes, *, cover_must_be_valid: bool = True, seqs=None
) -> np.ndarray:
    """P(next byte | text starts with x), summed over whole sequences; index 256 = end."""
    tok = lm.tok
    mass = np.zeros(END + 1)
    for seq, p in seqs if seqs is not None else sequences(lm):
        data = tok.decode(seq)
        if not data.startswith(x):
            continue
        if cover_must_be_valid:
            # The prefix of the sequence that reaches past x (plus the token after it when it
            # ends exactly at x) must be canonical: non-canonical covers have probability 0.
            k = next(k for k in range(len(seq) + 1) if len(tok.decode(seq[:k])) >= len(x))
            if not tok.canonical(seq[: k + 1] if len(tok.decode(seq[:k])) == len(x) else seq[:k]):
                continue
        mass[data[len(x)] if len(data) > len(x) else END] += p
    return mass / mass.sum()


TOK = ToyBPE()
TABLE = ByteTable(TOK.token_bytes)
_SEQS: dict[tuple[int, int, bool], list[tuple[tuple[int, ...], float]]] = {}


def all_sequences(lm: ToyLM) -> list[tuple[tuple[int, ...], float]]:
    """`sequences(lm)`, enumerated once per model configuration."""
    key = (lm.seed, lm.max_len, lm.masked)
    if key not in _SEQS:
        _SEQS[key] = list(sequences(ToyLM(TOK, max_len=lm.max_len, masked=lm.masked, seed=lm.seed)))
    return _SEQS[key]


PREFIXES = [b"".join(p) for n in range(1, 4) for p in itertools.product(b"a b c".split(), repeat=n)]


def test_toy_tokenizer_prefixes_of_canonical_sequences_are_canonical() -> None:
    """The property the stem construction relies on holds for this BPE."""
    for n in range(1, 7):
        for p in itertools.product(b"abc", repeat=n):
            ids = TOK.encode(bytes(p))
            assert all(TOK.canonical(ids[:k]) for k in range(len(ids)))


def test_toy_tokenizer_has_non_canonical_sequences() -> None:
    """Guard: the test vocabulary really offers several tokenizations of the same bytes."""
    assert TOK.encode(b"abc") != [TOK._id[b"a"], TOK._id[b"bc"]]
    assert not TOK.canonical([TOK._id[b"a"], TOK._id[b"bc"]]) or not TOK.canonical(
        [TOK._id[b"ab"], TOK._id[b"c"]]
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("x", PREFIXES)
def test_next_byte_distribution_equals_enumeration(x: bytes, seed: int) -> None:
    """Cover formula == marginal over all sequences of a model that only emits canonical ones."""
    lm = ToyLM(TOK, masked=True, seed=seed)
    seqs = all_sequences(lm)
    assert all(TOK.canonical(s) for s, _ in seqs)
    want = brute_next_byte(lm, x, cover_must_be_valid=False, seqs=seqs)
    got = next_byte_distribution((), x, TOK, lm, TABLE)
    assert np.allclose(got, want, rtol=0, atol=1e-9), (x, got, want)


@pytest.mark.parametrize("x", PREFIXES)
def test_non_canonical_covers_get_probability_zero(x: bytes) -> None:
    """With a model that leaks mass to non-canonical sequences, that mass is excluded exactly."""
    lm = ToyLM(TOK, masked=False, max_len=3, seed=5)
    seqs = all_sequences(lm)
    want = brute_next_byte(lm, x, seqs=seqs)
    got = next_byte_distribution((), x, TOK, lm, TABLE)
    assert np.allclose(got, want, rtol=0, atol=1e-9), (x, got, want)


def test_leaky_model_makes_the_validity_filter_matter() -> None:
    """Guard for the test above: counting non-canonical covers would give other numbers."""
    lm = ToyLM(TOK, masked=False, max_len=3, seed=5)
    seqs = all_sequences(lm)
    differs = [
        x
        for x in PREFIXES
        if not np.allclose(
            brute_next_byte(lm, x, seqs=seqs),
            brute_next_byte(lm, x, cover_must_be_valid=False, seqs=seqs),
            atol=1e-6,
        )
    ]
    assert len(differs) >= len(PREFIXES) // 3


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("x", PREFIXES)
def test_byte_healing_emits_the_greedy_bytes(x: bytes, seed: int) -> None:
    """Every byte `byte` healing emits is the most probable next byte by enumeration."""
    lm = ToyLM(TOK, masked=True, seed=seed)
    seqs = all_sequences(lm)
    res = heal((), x, "byte", TOK, lm, prune=0.0, max_rows=None)
    assert TOK.decode(res.tokens) == x + res.emitted
    assert TOK.canonical(res.tokens)
    for j in range(len(res.emitted)):
        p = brute_next_byte(lm, x + res.emitted[:j], cover_must_be_valid=False, seqs=seqs)
        assert int(np.argmax(p)) == res.emitted[j]
    assert res.info.mode == "byte" and res.info.cover == res.tokens


@pytest.mark.parametrize("x", PREFIXES)
def test_token_healing_keeps_one_stem(x: bytes) -> None:
    """`token` backs off the last token and picks the best token that starts with its bytes."""
    lm = ToyLM(TOK, masked=True, seed=4)
    ids = TOK.encode(x)
    res = heal((), x, "token", TOK, lm)
    assert res.tokens[:-1] == tuple(ids[:-1])
    last = TOK.token_bytes[res.tokens[-1]]
    assert last.startswith(TOK.token_bytes[ids[-1]])
    assert res.emitted == last[len(TOK.token_bytes[ids[-1]]) :]
    row = lm.logprobs(ids[:-1])
    removed = last[: len(last) - len(res.emitted)]
    cands = [t for t in range(1, TOK.n_vocab) if TOK.token_bytes[t].startswith(removed)]
    assert res.tokens[-1] == max(cands, key=lambda t: row[t])


@pytest.mark.parametrize(
    ("prefix", "want"),
    [(b"a", [1, 2]), (b"ab", [2]), (b"\xff", [3, 4]), (b"", [1, 2, 3, 4, 5]), (b"c", [])],
)
def test_byte_table_prefix_query(prefix: bytes, want: list[int]) -> None:
    """Sorted-table lookups agree with a linear scan, including 0xff bytes and empty tokens."""
    table = ByteTable([b"", b"a", b"ab", b"\xff", b"\xff\x01", b"b"])
    assert sorted(table.with_prefix(prefix).tolist()) == want


class BatchedToyLM(ToyLM):
    """The toy LM with the optional batched call an engine may offer."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(TOK, **kwargs)  # type: ignore[arg-type]
        self.batches = 0

    def logprobs_many(self, contexts: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """All rows at once (counted as one model call)."""
        self.batches += 1
        return [ToyLM.logprobs(self, c) for c in contexts]


@pytest.mark.parametrize("x", [p for p in PREFIXES if len(p) >= 2])
def test_batched_stem_rows_give_the_same_healing(x: bytes) -> None:
    """Prefetching the stems in one batched call changes the cost, not the result."""
    plain = ToyLM(TOK, masked=True, seed=7)
    batched = BatchedToyLM(masked=True, seed=7)
    a = heal((), x, "byte", TOK, plain, prune=0.0, max_rows=None)
    b = heal((), x, "byte", TOK, batched, prune=0.0, max_rows=None)
    assert (a.tokens, a.emitted) == (b.tokens, b.emitted)
    assert np.allclose(
        next_byte_distribution((), x, TOK, plain, TABLE),
        next_byte_distribution((), x, TOK, batched, TABLE),
        atol=1e-12,
    )
    assert batched.batches >= 1
    assert b.info.extra_passes < a.info.extra_passes


@pytest.mark.parametrize("x", PREFIXES)
def test_row_budget_bounds_the_model_calls(x: bytes) -> None:
    """A row budget stops the byte search early; the result is still a healing of x."""
    exact = heal((), x, "byte", TOK, ToyLM(TOK, masked=True, seed=2), prune=0.0, max_rows=None)
    lm = ToyLM(TOK, masked=True, seed=2)
    res = heal((), x, "byte", TOK, lm, prune=0.0, max_rows=2)
    assert TOK.decode(res.tokens) == x + res.emitted
    assert TOK.canonical(res.tokens)
    assert res.info.rows <= exact.info.rows
    if exact.info.rows <= 2:  # within the budget nothing changes
        assert (res.tokens, res.emitted) == (exact.tokens, exact.emitted)
