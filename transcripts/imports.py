"""Reading text transcripts people upload: plain text, SRT or WebVTT."""

from __future__ import annotations

import io
import re

import srt
import webvtt


class TranscriptFormatError(ValueError):
    pass


def _decode(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise TranscriptFormatError("This file is not text (it contains binary data).")
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TranscriptFormatError("This file is not UTF-8 text.")


def parse_transcript(name: str, data: bytes) -> tuple[str, list[dict]]:
    """(text, segments) from a .txt, .srt or .vtt file; segments are empty for plain text."""
    text = _decode(data).replace("\r\n", "\n").strip()
    if not text:
        raise TranscriptFormatError("The transcript file is empty.")
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext == "vtt" or text.startswith("WEBVTT"):
        try:
            captions = webvtt.from_buffer(io.StringIO(text)).captions
        except Exception as exc:
            raise TranscriptFormatError(f"This WebVTT file could not be read: {exc}") from exc
        segments = [
            {
                "start": c.start_time.in_milliseconds() / 1000,
                "end": c.end_time.in_milliseconds() / 1000,
                "text": c.text.strip(),
            }
            for c in captions
            if c.text.strip()
        ]
    elif ext == "srt" or re.match(r"^\d+\s*\n\d\d:\d\d:\d\d[,.]\d+\s*-->", text):
        try:
            subs = list(srt.parse(text))
        except srt.SRTParseError as exc:
            raise TranscriptFormatError(f"This SRT file could not be read: {exc}") from exc
        segments = [
            {"start": s.start.total_seconds(), "end": s.end.total_seconds(), "text": s.content.strip()}
            for s in subs
            if s.content.strip()
        ]
    else:
        return re.sub(r"\s+", " ", text), []
    if not segments:
        raise TranscriptFormatError("The subtitle file holds no captions.")
    return " ".join(s["text"] for s in segments), segments
