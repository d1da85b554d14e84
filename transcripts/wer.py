from __future__ import annotations

import re

import jiwer


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s']", " ", text.lower())).strip()


def word_error_rate(reference: str, hypothesis: str) -> float | None:
    """WER of `hypothesis` against `reference`, ignoring case and punctuation."""
    ref, hyp = _normalise(reference), _normalise(hypothesis)
    if not ref:
        return None
    return round(jiwer.wer(ref, hyp or ""), 4)
