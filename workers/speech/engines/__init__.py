"""The engine boundary: one small interface, result types shared by every engine.

Engines take a local file path and return a `TranscriptionResult`; they know
nothing of Django rows or storage, so the CLI, the web worker and Lambda all
call them the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from workers.speech.parts import PartCache
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


@dataclass
class TranscribeOptions:
    language: str | None = None
    prompt: str | None = None
    word_timestamps: bool = False
    speakers: SpeakerCount | None = None  # None: no speaker labels


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
    # Speaker id -> display name ("S1" -> "Speaker 1"); None where speakers were not asked for.
    speakers: dict[str, str] | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        for seg in data["segments"]:
            for key in ("words", "speaker"):
                if seg[key] is None:
                    del seg[key]
        if data["speakers"] is None:
            del data["speakers"]
        return data


class EngineError(Exception):
    """A transcription that cannot succeed as asked. `transient` errors may be retried."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


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


_engines: dict[str, Engine] = {}


def get_engine(name: str | None = None) -> Engine:
    """The engine named in settings, built once per process (warm Lambdas reuse it)."""
    from django.conf import settings

    name = name or settings.TRANSCRIBE_ENGINE
    if name not in _engines:
        if name == "local":
            from .local import LocalEngine

            _engines[name] = LocalEngine.from_settings()
        elif name == "openai":
            from .openai import OpenAIEngine

            _engines[name] = OpenAIEngine.from_settings()
        else:
            raise EngineError(f"Unknown TRANSCRIBE_ENGINE {name!r}: use 'local' or 'openai'.")
    return _engines[name]


def join_text(segments: list[Segment]) -> str:
    return " ".join(s.text.strip() for s in segments if s.text.strip())
