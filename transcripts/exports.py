"""Transcript exports. SRT and WebVTT are written by the `srt` and `webvtt-py`
libraries rather than by hand: cue timing and escaping are their job."""

from __future__ import annotations

import html
import io
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import srt
import webvtt
from webvtt.models import Timestamp

from workers.speech.speakers import default_name

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
    speakers: dict[str, str] | None = None  # speaker id -> display name, where speakers were asked for

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
            speakers=data.get("speakers"),
        )


CONTENT_TYPES = {
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "json": "application/json",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
BINARY = {"docx"}


def speaker_name(segment: dict, speakers: dict | None) -> str:
    """The display name of a segment's speaker ("" where it has none): the user's name if renamed."""
    sid = segment.get("speaker")
    if not sid:
        return ""
    return (speakers or {}).get(sid) or default_name(sid)


def _prefixed(segment: dict, speakers: dict | None) -> str:
    name = speaker_name(segment, speakers)
    return f"{name}: {segment['text'].strip()}" if name else segment["text"].strip()


def _cues(segments: list[dict]) -> list[dict]:
    return [s for s in segments if str(s.get("text", "")).strip()]


def to_txt(segments: list[dict], text: str = "", speakers: dict | None = None) -> str:
    cues = _cues(segments)
    body = "\n".join(_prefixed(s, speakers) for s in cues) if cues else text.strip()
    return body + "\n" if body else ""


def to_srt(segments: list[dict], speakers: dict | None = None) -> str:
    subs = [
        srt.Subtitle(
            index=i,
            start=timedelta(seconds=float(s["start"])),
            end=timedelta(seconds=max(float(s["end"]), float(s["start"]))),
            content=_prefixed(s, speakers),
        )
        for i, s in enumerate(_cues(segments), start=1)
    ]
    return srt.compose(subs, reindex=False)


def to_vtt(segments: list[dict], speakers: dict | None = None) -> str:
    vtt = webvtt.WebVTT()
    for s in _cues(segments):
        start, end = float(s["start"]), max(float(s["end"]), float(s["start"]))
        # "-->" inside a cue would end it early; WebVTT has no escape for it.
        text = s["text"].strip().replace("-->", "->")
        if name := speaker_name(s, speakers):
            # A voice span: players show the name; "<", ">" and "&" in it must be escaped.
            text = f"<v {html.escape(name, quote=False)}>{text}"
        vtt.captions.append(
            webvtt.Caption(str(Timestamp.from_seconds(start)), str(Timestamp.from_seconds(end)), text)
        )
    out = io.StringIO()
    vtt.write(out)
    return out.getvalue()


SEGMENT_KEYS = ("start", "end", "text", "language", "words", "speaker")


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
            "speakers": t.speakers or {},
            "segments": [
                {"language": t.language} | {k: v for k, v in s.items() if k in SEGMENT_KEYS}
                for s in t.segments
            ],
        },
        ensure_ascii=False,
        indent=2,
    )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _turns(segments: list[dict]) -> list[tuple[dict, list[str]]]:
    """Consecutive segments of one speaker read as one paragraph; without speakers, one each."""
    turns: list[tuple[dict, list[str]]] = []
    for s in _cues(segments):
        if turns and s.get("speaker") and turns[-1][0].get("speaker") == s["speaker"]:
            turns[-1][1].append(s["text"].strip())
        else:
            turns.append((s, [s["text"].strip()]))
    return turns


def to_docx(
    title: str, duration: float | None, segments: list[dict], speakers: dict | None = None, text: str = ""
) -> bytes:
    """A Word document: the title, the duration, then one timestamped paragraph per speaker turn."""
    import docx
    from docx.shared import RGBColor

    doc = docx.Document()
    doc.core_properties.title = title
    doc.add_heading(title, level=1)
    if duration:
        doc.add_paragraph(f"Duration: {_clock(duration)}")
    turns = _turns(segments)
    for first, texts in turns:
        paragraph = doc.add_paragraph()
        stamp = paragraph.add_run(f"[{_clock(float(first['start']))}] ")
        stamp.font.color.rgb = RGBColor(0x66, 0x66, 0x66)
        if name := speaker_name(first, speakers):
            paragraph.add_run(f"{name}: ").bold = True
        paragraph.add_run(" ".join(texts))
    if not turns and text.strip():
        doc.add_paragraph(text.strip())
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def render(t: Document | Transcript, fmt: str) -> str | bytes:
    if fmt == "txt":
        return to_txt(t.segments, t.text, t.speakers)
    if fmt == "srt":
        return to_srt(t.segments, t.speakers)
    if fmt == "vtt":
        return to_vtt(t.segments, t.speakers)
    if fmt == "json":
        return to_json(t)
    if fmt == "docx":
        return to_docx(t.title, t.duration, t.segments, t.speakers, t.text)
    raise ValueError(f"unknown export format {fmt!r}")
