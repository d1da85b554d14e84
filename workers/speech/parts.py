"""Parts of long audio, transcribed one by one and merged onto the original timeline.

Parts meet at pauses (workers/speech/chunking.py), so no word belongs to two of
them. Where the finished parts are kept is the caller's business (a `PartCache`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

from .chunking import Piece
from .engines import Segment, TranscriptionResult, Word, heard, join_text, languages_of


def result_from_dict(data: dict) -> TranscriptionResult:
    """The inverse of `TranscriptionResult.to_dict`."""
    segments = [
        Segment(
            s["start"],
            s["end"],
            s["text"],
            [Word(**w) for w in s["words"]] if s.get("words") is not None else None,
            s.get("speaker"),
            s.get("language", ""),
            s.get("language_probability"),
        )
        for s in data["segments"]
    ]
    fields = {f.name for f in dataclasses.fields(TranscriptionResult)}
    return TranscriptionResult(**{**{k: v for k, v in data.items() if k in fields}, "segments": segments})


def merge(
    results: Sequence[TranscriptionResult],
    pieces: Sequence[Piece],
    duration: float,
    shared: Collection[str] = (),
) -> TranscriptionResult:
    """One result on the original timeline: each part's times offset by where it starts,
    kept inside its part and never before what came earlier, so times only go forward.
    Speaker ids in `shared` mean the same person in every part (workers/speech/voices.py);
    any other id is that part's own. Ids are then renumbered S1, S2, ... in the order
    heard. The results given are left as they are."""
    segments: list[Segment] = []
    floor = 0.0
    for n, (result, piece) in enumerate(zip(results, pieces, strict=True)):
        lo = piece.offset
        hi = duration if piece is pieces[-1] else min(piece.offset + piece.span.duration, duration)
        for s in result.segments:
            # A text-only answer covers its whole part.
            s_start, s_end = (s.start, s.end) if result.timestamps else (0.0, hi - lo)
            start = _place(s_start + lo, max(lo, floor), hi)
            end = _place(s_end + lo, start, hi)
            words = None
            if s.words is not None:
                words, w_floor = [], start
                for w in s.words:
                    w_start = _place(w.start + lo, w_floor, hi)
                    w_end = _place(w.end + lo, w_start, hi)
                    words.append(Word(w_start, w_end, w.word, w.probability))
                    w_floor = w_start
            segments.append(
                Segment(
                    start,
                    end,
                    s.text,
                    words,
                    s.speaker if n == 0 or s.speaker is None or s.speaker in shared else f"{s.speaker}@{n}",
                    s.language or result.language,
                    s.language_probability,
                )
            )
            floor = start
    _renumber(segments)
    languages = languages_of(segments)
    asked = any(r.speakers is not None for r in results)
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
        speakers=heard(segments) if asked else None,
    )


def _renumber(segments: list[Segment]) -> None:
    ids: dict[str, str] = {}
    for s in segments:
        if s.speaker is not None:
            s.speaker = ids.setdefault(s.speaker, f"S{len(ids) + 1}")


def _place(t: float, lo: float, hi: float) -> float:
    return round(min(max(t, lo), max(hi, lo)), 3)
