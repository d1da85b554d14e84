"""The engine boundary: one small interface, result types shared by every engine.

Engines take a local file path and return a `TranscriptionResult`; they know
nothing of Django rows or storage, so the CLI, the web worker and Lambda all
call them the same way. Which engine runs, and with what configuration, is the
app's choice (transcripts/engines.py builds them from settings).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from workers.speech.chunking import Span
    from workers.speech.speakers import SpeakerCount

Progress = Callable[[float], None]


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float | None = None


@dataclass
class Segment:
    start: float
    end: float
    text: str
    words: list[Word] | None = None
    speaker: str | None = None  # an id such as "S1", where speakers were asked for
    language: str = ""
    # The model's confidence in `language`, where it detected it (None where it was given).
    language_probability: float | None = None


@dataclass
class TranscribeOptions:
    language: str | None = None
    prompt: str | None = None
    word_timestamps: bool = False
    task: str = "transcribe"  # or "translate": into English
    speakers: SpeakerCount | None = None  # None: no speaker labels
    # Words to expect (names, jargon), comma-separated: faster-whisper's `hotwords`.
    hotwords: str | None = None


@dataclass
class TranscriptionResult:
    text: str
    language: str
    duration: float
    segments: list[Segment]
    model: str
    engine: str
    # False where the model returns text only (gpt-4o-transcribe): one segment, no real timing.
    timestamps: bool = True
    timings: dict[str, float] = field(default_factory=dict)
    # Every language found -> the model's confidence (None where it gave none), main one first.
    languages: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        for seg in data["segments"]:
            for key in ("words", "speaker"):
                if seg[key] is None:
                    del seg[key]
            seg["language"] = seg["language"] or self.language
        if not data["languages"] and self.language:
            data["languages"] = {self.language: None}
        return data


class PartCache(Protocol):
    """Where an engine keeps each finished part of long audio, so a retry redoes only what is missing."""

    def get(self, span: Span) -> TranscriptionResult | None: ...

    def put(self, span: Span, result: TranscriptionResult) -> None: ...


class EngineError(Exception):
    """A transcription that cannot succeed as asked. `transient` errors may be retried."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


class TransientError(Exception):
    """A failure that may pass (an engine asking to be retried, a service briefly away):
    raised out of a Lambda task so that Lambda's async retry runs it again."""


class Engine(Protocol):
    name: str

    def transcribe(
        self,
        path: str,
        options: TranscribeOptions,
        progress: Progress | None = None,
        parts: PartCache | None = None,
    ) -> TranscriptionResult:
        """`parts`, when given, keeps each finished part of long audio so a retry redoes only what is missing."""
        ...


def languages_of(segments: list[Segment]) -> dict[str, float | None]:
    """Each language the segments are in -> the model's confidence in it, weighted by
    speaking time; the language spoken longest first."""
    seconds: dict[str, float] = {}
    weighted: dict[str, float] = {}
    for s in segments:
        if not s.language:
            continue
        length = max(s.end - s.start, 0.01)
        seconds[s.language] = seconds.get(s.language, 0.0) + length
        if s.language_probability is not None:
            weighted[s.language] = weighted.get(s.language, 0.0) + s.language_probability * length
    order = sorted(seconds, key=seconds.__getitem__, reverse=True)
    return {lang: round(weighted[lang] / seconds[lang], 3) if lang in weighted else None for lang in order}


def join_text(segments: list[Segment]) -> str:
    return " ".join(s.text.strip() for s in segments if s.text.strip())


def throttled(report: Progress, seconds: float = 2.0) -> Progress:
    """A progress callback that passes on at most one report every `seconds`:
    engines report per segment, and the app may write each report to a database."""
    last = time.monotonic()

    def progress(fraction: float) -> None:
        nonlocal last
        if time.monotonic() - last >= seconds:
            last = time.monotonic()
            report(fraction)

    return progress
