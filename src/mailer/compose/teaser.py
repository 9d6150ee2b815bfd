"""The opening of an article, cut at a sentence end: a teaser or a short summary."""

from __future__ import annotations

from mailer.compose.text import cut_at_word, sentences, squash, word_count

TEASER_MIN_WORDS = 120
TEASER_MAX_WORDS = 180
SUMMARY_MAX_WORDS = 45


def make_teaser(
    paragraphs: list[str],
    *,
    min_words: int = TEASER_MIN_WORDS,
    max_words: int = TEASER_MAX_WORDS,
) -> list[str]:
    """Whole sentences from the start, paragraphs kept, between ``min_words`` and ``max_words``.

    It stops at the first paragraph end past ``min_words``, else at the last sentence that fits.
    A text shorter than ``min_words`` comes back whole. A last sentence that leads into a list
    ("The most common include:") is dropped: the list is not in the teaser.
    """
    result: list[str] = []
    total = 0
    for paragraph in paragraphs:
        kept: list[str] = []
        for sentence in sentences(paragraph):
            words = word_count(sentence)
            if total + words > max_words:
                if total == 0:  # one enormous sentence: better cut than nothing
                    kept.append(cut_at_word(sentence, len(" ".join(sentence.split()[:max_words]))))
                return _without_lead_in(_close(result, kept))
            kept.append(sentence)
            total += words
        result = _close(result, kept)
        if total >= min_words:
            break
    return _without_lead_in(result)


def _close(result: list[str], kept: list[str]) -> list[str]:
    return [*result, " ".join(kept)] if kept else result


def _without_lead_in(paragraphs: list[str]) -> list[str]:
    while paragraphs:
        last = sentences(paragraphs[-1])
        if not last or not last[-1].endswith(":"):
            break
        paragraphs = _close(paragraphs[:-1], last[:-1])
    return paragraphs


def make_summary(text: str, *, max_words: int = SUMMARY_MAX_WORDS) -> str:
    """One or two sentences for a digest entry; never more than ``max_words`` unless one is."""
    parts = sentences(squash(text))
    if not parts:
        return ""
    chosen = parts[0]
    if len(parts) > 1 and word_count(chosen) + word_count(parts[1]) <= max_words:
        chosen = f"{chosen} {parts[1]}"
    if word_count(chosen) > max_words * 2:
        chosen = cut_at_word(chosen, len(" ".join(chosen.split()[:max_words])) + 1)
    return chosen
