"""The results of a transcript's parts: kept as each one finishes, merged at the end.

Each finished part is written to `work/<transcript-uuid>/part-<n>.json` at once,
so a failure later (another part, a Lambda timeout) loses nothing and a retry
redoes only what is missing. The bucket's one event source sees `work/` too,
but the router has no worker for that prefix: writing there starts nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from transcripts import storage as store

from .chunking import Piece, Span
from .engines import Segment, TranscriptionResult, Word, join_text, languages_of

WORK_PREFIX = "work/"


class PartCache(Protocol):
    def get(self, span: Span) -> TranscriptionResult | None: ...

    def put(self, span: Span, result: TranscriptionResult) -> None: ...


def work_prefix(transcript_id) -> str:
    return f"{WORK_PREFIX}{transcript_id}/"


class StoredParts:
    """A PartCache in storage. A stored part counts only for the same span, so a
    plan made with other settings never mixes with this one."""

    def __init__(self, transcript_id):
        self.transcript_id = str(transcript_id)
        self.prefix = work_prefix(transcript_id)

    def key(self, index: int) -> str:
        return f"{self.prefix}part-{index + 1}.json"

    def get(self, span: Span) -> TranscriptionResult | None:
        key = self.key(span.index)
        if not store.exists(key):
            return None
        data = store.get_json(key)
        if data.get("span") != [span.start, span.end]:
            return None
        return result_from_dict(data["result"])

    def put(self, span: Span, result: TranscriptionResult) -> None:
        store.put_json(
            self.key(span.index),
            {"span": [span.start, span.end], "result": result.to_dict()},
            {"transcript-id": self.transcript_id},
        )

    def clear(self) -> None:
        store.delete_prefix(self.prefix)


def result_from_dict(data: dict) -> TranscriptionResult:
    segments = [
        Segment(
            s["start"],
            s["end"],
            s["text"],
            [Word(**w) for w in s["words"]] if s.get("words") is not None else None,
            s.get("language", ""),
            s.get("language_probability"),
        )
        for s in data["segments"]
    ]
    fields = {f.name for f in dataclasses.fields(TranscriptionResult)}
    return TranscriptionResult(**{**{k: v for k, v in data.items() if k in fields}, "segments": segments})


def merge(
    results: Sequence[TranscriptionResult], pieces: Sequence[Piece], duration: float
) -> TranscriptionResult:
    """One result on the original timeline: each part's times offset by where it starts,
    kept inside its part and never before what came earlier, so times only go forward.
    Parts meet at pauses, so no word belongs to two of them."""
    segments: list[Segment] = []
    floor = 0.0
    for result, piece in zip(results, pieces, strict=True):
        lo = piece.offset
        hi = min(piece.offset + piece.span.duration, duration)
        if piece is pieces[-1]:
            hi = duration
        if not result.timestamps:
            # A text-only answer covers its whole part.
            for s in result.segments:
                s.start, s.end = 0.0, hi - lo
        for s in result.segments:
            start = _place(s.start + lo, max(lo, floor), hi)
            end = _place(s.end + lo, start, hi)
            words = None
            if s.words is not None:
                words, w_floor = [], start
                for w in s.words:
                    w_start = _place(w.start + lo, w_floor, hi)
                    w_end = _place(w.end + lo, w_start, hi)
                    words.append(Word(w_start, w_end, w.word, w.probability))
                    w_floor = w_start
            segments.append(
                Segment(start, end, s.text, words, s.language or result.language, s.language_probability)
            )
            floor = start
    languages = languages_of(segments)
    first = results[0] if results else None
    return TranscriptionResult(
        text=join_text(segments),
        language=next(iter(languages), ""),
        languages=languages,
        duration=round(duration, 3),
        segments=segments,
        model=first.model if first else "",
        engine=first.engine if first else "",
        timestamps=all(r.timestamps for r in results),
    )


def _place(t: float, lo: float, hi: float) -> float:
    return round(min(max(t, lo), max(hi, lo)), 3)
