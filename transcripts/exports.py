"""Transcript exports. SRT and WebVTT are written by the `srt` and `webvtt-py`
libraries rather than by hand: cue timing and escaping are their job."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import srt
import webvtt

from .models import Transcript

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


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def to_vtt(segments: list[dict]) -> str:
    vtt = webvtt.WebVTT()
    for s in _cues(segments):
        start, end = float(s["start"]), max(float(s["end"]), float(s["start"]))
        # "-->" inside a cue would end it early; WebVTT has no escape for it.
        vtt.captions.append(
            webvtt.Caption(_vtt_time(start), _vtt_time(end), s["text"].strip().replace("-->", "->"))
        )
    out = io.StringIO()
    vtt.write(out)
    return out.getvalue()


SEGMENT_KEYS = ("start", "end", "text", "language", "words")


def to_json(t: Transcript) -> str:
    return json.dumps(
        {
            "id": str(t.id),
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


def render(t: Transcript, fmt: str) -> str:
    if fmt == "txt":
        return to_txt(t.segments, t.text)
    if fmt == "srt":
        return to_srt(t.segments)
    if fmt == "vtt":
        return to_vtt(t.segments)
    if fmt == "json":
        return to_json(t)
    raise ValueError(f"unknown export format {fmt!r}")
