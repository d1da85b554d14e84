"""The engine boundary: one small interface, result types shared by every engine.

Engines take a local file path and return a `TranscriptionResult`; they know
nothing of Django rows or storage, so the CLI, the web worker and Lambda all
call them the same way. Which engine runs, and with what configuration, is the
app's choice (transcripts/engines.py builds them from settings).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from workers.speech.chunking import Span

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


@dataclass(frozen=True)
class Voice:
    """A speaker id and a clip of that speaker, as a `data:` URL (workers/speech/voices.py)."""

    id: str
    reference: str


@dataclass
class TranscribeOptions:
    language: str | None = None
    prompt: str | None = None
    word_timestamps: bool = False
    task: str = "transcribe"  # or "translate": into English
    speakers: SpeakerCount | None = None  # None: no speaker labels
    # Words to expect (names, jargon), comma-separated: faster-whisper's `hotwords`.
    hotwords: str | None = None
    # Speakers already heard in an earlier part of the same audio (workers/speech/voices.py).
    voices: tuple[Voice, ...] = ()


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
    # Speaker id -> display name ("S1" -> "Speaker 1"); None where speakers were not asked for.
    speakers: dict[str, str] | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        for seg in data["segments"]:
            for key in ("words", "speaker"):
                if seg[key] is None:
                    del seg[key]
            seg["language"] = seg["language"] or self.language
        if not data["languages"] and self.language:
            data["languages"] = {self.language: None}
        if data["speakers"] is None:
            del data["speakers"]
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


MAX_SPEAKERS = 10


class SpeakersError(EngineError):
    """Diarization cannot run as asked; the message is for the person who asked."""


@dataclass(frozen=True)
class SpeakerCount:
    """How many speakers to look for: exactly N when `min == max`, else found in the range."""

    min: int = 1
    max: int = MAX_SPEAKERS

    @property
    def exact(self) -> int | None:
        return self.min if self.min == self.max else None

    @classmethod
    def parse(cls, text: str | None) -> SpeakerCount:
        """'' or 'auto' -> found automatically; '2' -> exactly two; '2-4' -> two to four."""
        text = (text or "").strip().lower()
        if text in ("", "auto"):
            return cls()
        match = re.fullmatch(r"(\d{1,3})(?:\s*[-–]\s*(\d{1,3}))?", text)
        if not match:
            raise SpeakersError(
                f"{text!r} is not a number of speakers: give a number (2) or a range (2-4), or leave it empty."
            )
        low = int(match[1])
        high = int(match[2]) if match[2] else low
        if low < 1 or high < low:
            raise SpeakersError(f"{text!r}: the range must go from at least 1 up to a larger number.")
        if high > MAX_SPEAKERS:
            raise SpeakersError(f"{text!r}: at most {MAX_SPEAKERS} speakers can be told apart.")
        return cls(low, high)

    def __str__(self) -> str:
        if self == SpeakerCount():
            return "auto"
        return str(self.exact) if self.exact else f"{self.min}-{self.max}"


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


def default_name(speaker: str) -> str:
    """'S1' -> 'Speaker 1': what a speaker is called until the user renames them."""
    return f"Speaker {speaker[1:]}" if re.fullmatch(r"S\d+", speaker) else speaker


def heard(segments: list[Segment]) -> dict[str, str]:
    """Id -> default name of every speaker the segments name, in id order (S1, S2, ..., S10)."""
    ids = {s.speaker for s in segments if s.speaker}
    return {s: default_name(s) for s in sorted(ids, key=lambda s: (len(s), s))}
