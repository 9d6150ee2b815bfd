"""The opening of an article, cut at a sentence end: a teaser or a short summary."""

from __future__ import annotations

from collections.abc import Sequence

from mailer.articles.model import ListBlock
from mailer.campaigns.text import cut_at_word, sentences, squash, word_count

TEASER_MIN_WORDS = 120
TEASER_MAX_WORDS = 180
SUMMARY_MAX_WORDS = 45


def make_teaser(
    blocks: Sequence[str | ListBlock],
    *,
    min_words: int = TEASER_MIN_WORDS,
    max_words: int = TEASER_MAX_WORDS,
) -> list[str | ListBlock]:
    """Whole sentences from the start, paragraphs kept, between ``min_words`` and ``max_words``.

    ``blocks`` is the opening in order: paragraphs' texts and lists. It stops at the first
    paragraph end past ``min_words``, else at the last sentence that fits. A text shorter than
    ``min_words`` comes back whole. A teaser never ends a paragraph on a lead-in (":") unless
    what it introduces follows: a list right after a lead-in comes along when it fits, else the
    teaser ends before the lead-in; a paragraph after one is taken even past ``min_words``.
    A list no lead-in introduces is left to the article.
    """
    result: list[str | ListBlock] = []
    total = 0
    leads_in = False  # the block before was a whole paragraph ending on ":"
    for block in blocks:
        if isinstance(block, ListBlock):
            words = _list_words(block)
            if not leads_in:
                continue  # a list of its own: not teaser material
            if total + words > max_words:
                break  # what the lead-in introduces does not fit: the lead-in goes
            result.append(block)
            total += words
            leads_in = False
            if total >= min_words:
                break
            continue
        kept: list[str] = []
        whole = True
        for sentence in sentences(block):
            words = word_count(sentence)
            if total + words > max_words:
                if total == 0:  # one enormous sentence: better cut than nothing
                    kept.append(cut_at_word(sentence, len(" ".join(sentence.split()[:max_words]))))
                whole = False
                break
            kept.append(sentence)
            total += words
        result = _close(result, kept)
        if not whole:
            break
        leads_in = bool(kept) and kept[-1].endswith(":")
        if total >= min_words and not leads_in:
            break
    return _without_lead_in(result)


def _close(result: list[str | ListBlock], kept: list[str]) -> list[str | ListBlock]:
    return [*result, " ".join(kept)] if kept else result


def _without_lead_in(blocks: list[str | ListBlock]) -> list[str | ListBlock]:
    while blocks and isinstance(blocks[-1], str):
        last = sentences(blocks[-1])
        if not last or not last[-1].endswith(":"):
            break
        blocks = _close(blocks[:-1], last[:-1])
    return blocks


def _list_words(block: ListBlock) -> int:
    nested = sum(_list_words(inner) for inner in block.nested.values())
    return sum(word_count(item) for item in block.items) + nested


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
