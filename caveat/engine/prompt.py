"""Prompt construction: FIM templates from the model's special tokens, or prefix-only.

The typing point is kept at the end of the prompt wherever the model allows it (prefix-only, or
SPM order), so that a keystroke only appends tokens and the KV cache is reused. Repository
context (`caveat.engine.context`) goes first, before the template, for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from caveat.engine.context import RepoContext, context_text
from caveat.engine.healing import Tokenizer, split_prefix
from caveat.engine.model import FimTokens
from caveat.engine.types import CompletionRequest, PromptMode

# Characters per token is ~3-4 for code; budgeting text first keeps tokenization cheap.
_CHARS_PER_TOKEN = 3


@dataclass(frozen=True)
class PromptPlan:
    """The tokens before the fragment, the fragment healing works on, and the prompt mode."""

    head: tuple[int, ...]
    fragment: bytes
    mode: PromptMode
    prefix_tail: bytes


def budget_text(prefix: str, suffix: str, max_chars: int) -> tuple[str, str, int, int]:
    """Trim prefix (from the start) and suffix (from the end) to about max_chars in total.

    Keeps whole lines nearest the cursor; the prefix gets three quarters of the budget when
    both sides are long, since code before the cursor predicts the next tokens best. The prefix
    is cut at a multiple of a quarter of its share (then at the next line start), so the window
    start stays put while the user types and the KV cache is reused (issue #22 item 7).
    """
    if len(prefix) + len(suffix) <= max_chars:
        return prefix, suffix, 0, 0
    suffix_share = min(len(suffix), max_chars // 4)
    prefix_share = min(len(prefix), max_chars - suffix_share)
    suffix_share = min(len(suffix), max_chars - prefix_share)
    new_prefix = prefix[coarse(len(prefix) - prefix_share, prefix_share // 4) :]
    nl = new_prefix.find("\n")
    if 0 <= nl < len(new_prefix) - 1 and len(new_prefix) < len(prefix):
        new_prefix = new_prefix[nl + 1 :]
    new_suffix = suffix[:suffix_share]
    nl = new_suffix.rfind("\n")
    if nl > 0 and len(new_suffix) < len(suffix):
        new_suffix = new_suffix[: nl + 1]
    return (
        new_prefix,
        new_suffix,
        len(prefix.encode()) - len(new_prefix.encode()),
        len(suffix.encode()) - len(new_suffix.encode()),
    )


def coarse(n: int, step: int) -> int:
    """`n` rounded up to a multiple of `step` (`n` itself for a step below 2)."""
    return n if step < 2 else -(-n // step) * step


def uses_spm(model_name: str) -> bool:
    """True for families trained on suffix-prefix-middle order with the prefix last.

    Code Llama was trained on both orders; its SPM layout puts the prefix right after MID, so
    typing only appends to the prompt. Other families (Qwen2.5-Coder, StarCoder2, DeepSeek
    Coder) document PSM only.
    """
    return "codellama" in model_name.lower().replace(" ", "").replace("-", "")


def build_prompt(
    *,
    body: Sequence[int],
    suffix_tokens: Sequence[int],
    bos: int,
    add_bos: bool,
    fim: FimTokens | None,
    spm: bool = False,
    context: Sequence[int] = (),
) -> tuple[tuple[int, ...], PromptMode]:
    """Lay out the tokens that precede the healed fragment.

    With `fim` (a model that has FIM tokens and a request that has a suffix): PSM
    `<PRE> body <SUF> suffix <MID>`, or SPM `<PRE> <SUF> suffix <MID> body`. Without: prefix-only
    `BOS body`. The fragment (healed or not) always follows the returned tokens. `context`
    (repository context tokens) goes right after BOS, before everything that changes.
    """
    start: list[int] = [bos] if add_bos and bos >= 0 else []
    start.extend(context)
    if fim is not None and fim.available:
        if spm:
            return (*start, fim.pre, fim.suf, *suffix_tokens, fim.mid, *body), "fim"
        return (*start, fim.pre, *body, fim.suf, *suffix_tokens, fim.mid), "fim"
    return (*start, *body), "prefix"


def plan_prompt(
    req: CompletionRequest,
    tok: Tokenizer,
    *,
    n_ctx: int,
    bos: int,
    add_bos: bool,
    fim: FimTokens,
    spm: bool,
) -> PromptPlan:
    """Budget the text to the context window, split off the fragment, lay out the template."""
    use_fim = fim.available
    context = context_tokens(
        req.context,
        tok,
        fim if use_fim else None,
        req.language,
        limit=(n_ctx - req.max_tokens) // 2,
    )
    budget_chars = max(256, (n_ctx - req.max_tokens - 16 - len(context)) * _CHARS_PER_TOKEN)
    prefix, suffix, _, _ = budget_text(req.prefix, req.suffix if use_fim else "", budget_chars)
    pre_bytes = prefix.encode("utf-8")
    if use_fim and not spm and req.healing == "none":
        # Unhealed PSM: the whole prefix stays in the PRE section (the family's template).
        body_bytes, fragment = pre_bytes, b""
    else:
        body_bytes, fragment = split_prefix(pre_bytes, tok)
    body = tok.encode(body_bytes)
    suffix_tokens = tok.encode(suffix.encode("utf-8")) if use_fim else []
    room = n_ctx - req.max_tokens - len(suffix_tokens) - 8 - len(fragment) - len(context)
    if len(body) > room:
        # Dense text has more tokens than the character budget assumed: drop tokens from the
        # front in steps of an eighth of the window (a step that does not change as the user
        # types), so the prompt's start does not move with every keystroke.
        room = max(room, 0)
        step = (n_ctx - req.max_tokens) // 8
        body = body[min(len(body), coarse(len(body) - room, step)) :]
    head, mode = build_prompt(
        body=body,
        suffix_tokens=suffix_tokens,
        bos=bos,
        add_bos=add_bos,
        fim=fim if use_fim else None,
        spm=spm,
        context=context,
    )
    return PromptPlan(head=head, fragment=fragment, mode=mode, prefix_tail=pre_bytes[-512:])


def context_tokens(
    ctx: RepoContext | None,
    tok: Tokenizer,
    fim: FimTokens | None,
    language: str | None,
    *,
    limit: int,
) -> list[int]:
    """The repository context as tokens, at most `limit` (chunks drop from the first on).

    A FIM model with a file separator token gets its repository format, as llama.cpp's
    `/infill` lays out `input_extra`: `<repo_name>workspace\n`, then `<file_sep>path\n text` per
    chunk, then `<file_sep>path\n` of the file itself. Other models get commented file headers.
    """
    while ctx is not None and ctx.chunks:
        if fim is not None and fim.sep >= 0:
            out = [fim.rep, *tok.encode(b"workspace\n")] if fim.rep >= 0 else []
            for chunk in ctx.chunks:
                body = chunk.text if chunk.text.endswith("\n") else chunk.text + "\n"
                out += [fim.sep, *tok.encode(f"{chunk.path}\n{body}".encode())]
            out += [fim.sep, *tok.encode(f"{ctx.path}\n".encode())]
        else:
            out = tok.encode(context_text(ctx, language).encode("utf-8"))
        if len(out) <= limit:
            return out
        ctx = replace(ctx, chunks=ctx.chunks[1:])
    return []
