"""The words every surface uses for a span: which token a number belongs to, and why the level.

Diagnostic messages, hovers and `caveat scan` all say the same sentence, built here once.
"""

from __future__ import annotations

from caveat.annotate.provenance import TrackedSpan

_POPULATION = {
    "unit": "correct code",
    "pick": "the model's correct picks",
    "edit": "correct code",
}


def percent(probability: float) -> str:
    """A probability in words for the UI: whole percents, finer below 1%."""
    if probability >= 0.01:
        return f"{probability:.0%}"
    if probability >= 0.001:
        return f"{probability:.1%}"
    return "<0.1%"


def quoted(text: str) -> str:
    """Text in single quotes on one line (line breaks shown as ⏎)."""
    return "'" + text.replace("\r\n", "⏎").replace("\n", "⏎") + "'"


def kind_words(kind: str) -> str:
    """A span kind as prose ("line" for a fallback unit)."""
    return kind.replace("_", " ")


def token_sentence(span: TrackedSpan) -> str:
    """Whose probability the shown number is: the span's least sure token."""
    token = span.token.strip() or span.token
    if token == span.chosen.strip():
        return f"the model gave {quoted(token)} {percent(span.token_probability)}"
    return (
        f"the model gave {quoted(token)} {percent(span.token_probability)}, "
        f"the least sure token of this {kind_words(span.kind)}"
    )


def level_sentence(span: TrackedSpan) -> str:
    """Why the span has its level: the predicted chance of an edit, or how rare this doubt is."""
    if span.basis == "edit" and span.edit is not None:
        return (
            f"{span.level}: caveat estimates a {percent(span.edit)} chance "
            f"that you would change this {kind_words(span.kind)}"
        )
    rate = 10.0 ** (-span.doubt)
    return (
        f"{span.level}: only {percent(rate)} of {_POPULATION[span.basis]} "
        "looks this unsure to the model"
    )


def diagnostic_message(span: TrackedSpan) -> str:
    """The one-line diagnostic: token and probability, level reason, first alternative."""
    text = f"caveat: {token_sentence(span)} ({level_sentence(span)})"
    if span.choices:
        text += f"; it also considered {quoted(span.choices[0].text)}"
    return text
