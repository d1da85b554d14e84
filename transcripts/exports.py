"""Transcript exports. SRT and WebVTT are written by the `srt` and `webvtt-py`
libraries rather than by hand: cue timing and escaping are their job."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import srt
import webvtt
from webvtt.models import Timestamp

if TYPE_CHECKING:
    from workers.speech.engines import TranscriptionResult

    from .models import Transcript


@dataclass
class Document:
    """What an export needs. A stored `Transcript` has these fields too, so either will do;
    the CLI prints a fresh result as a Document, nothing stored."""

    title: str
    text: str
    segments: list[dict]
    language: str = ""
    duration: float | None = None
    model: str = ""
    timestamps: bool = True
    id: str | None = None
    # Every language found -> the model's confidence (None where it gave none), main one first.
    languages: dict[str, float | None] = field(default_factory=dict)

    @classmethod
    def of(cls, title: str, result: TranscriptionResult) -> Document:
        data = result.to_dict()
        return cls(
            title=title,
            text=data["text"],
            segments=data["segments"],
            language=data["language"],
            duration=data["duration"],
            model=data["model"],
            timestamps=data["timestamps"],
            languages=data["languages"],
        )


CONTENT_TYPES = {
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "json": "application/json",
}


def _cues(segments: list[dict]) -> list[dict]:
    return [s for s in segments if str(s.get("text", "")).strip()]


def to_txt(segments: list[dict], text: str = "") -> str:
    cues = _cues(segments)
    body = "\n".join(s["text"].strip() for s in cues) if cues else text.strip()
    return body + "\n" if body else ""


def to_srt(segments: list[dict]) -> str:
    subs = [
        srt.Subtitle(
            index=i,
            start=timedelta(seconds=float(s["start"])),
            end=timedelta(seconds=max(float(s["end"]), float(s["start"]))),
            content=s["text"].strip(),
        )
        for i, s in enumerate(_cues(segments), start=1)
    ]
    return srt.compose(subs, reindex=False)


def to_vtt(segments: list[dict]) -> str:
    vtt = webvtt.WebVTT()
    for s in _cues(segments):
        start, end = float(s["start"]), max(float(s["end"]), float(s["start"]))
        # "-->" inside a cue would end it early; WebVTT has no escape for it.
        vtt.captions.append(
            webvtt.Caption(
                str(Timestamp.from_seconds(start)),
                str(Timestamp.from_seconds(end)),
                s["text"].strip().replace("-->", "->"),
            )
        )
    out = io.StringIO()
    vtt.write(out)
    return out.getvalue()


SEGMENT_KEYS = ("start", "end", "text", "language", "words")


def to_json(t: Document | Transcript) -> str:
    return json.dumps(
        {
            "id": str(t.id) if t.id else None,
            "title": t.title,
            "text": t.text,
            "language": t.language,
            "languages": t.languages or ({t.language: None} if t.language else {}),
            "duration": t.duration,
            "model": t.model,
            "timestamps": t.timestamps,
            "segments": [
                {"language": t.language} | {k: v for k, v in s.items() if k in SEGMENT_KEYS}
                for s in t.segments
            ],
        },
        ensure_ascii=False,
        indent=2,
    )


def render(t: Document | Transcript, fmt: str) -> str:
    if fmt == "txt":
        return to_txt(t.segments, t.text)
    if fmt == "srt":
        return to_srt(t.segments)
    if fmt == "vtt":
        return to_vtt(t.segments)
    if fmt == "json":
        return to_json(t)
    raise ValueError(f"unknown export format {fmt!r}")
