"""Reading text transcripts people upload: plain text, SRT or WebVTT.

Errors name the cue and say what is wrong in our own words: the parsers'
messages quote the file back, which is neither readable nor safe to show.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import srt
import webvtt

# About ten hours of speech: a 3-hour meeting has about 3,000 segments. Bigger
# files make pages no one can read or edit (issue 7, item 15).
MAX_CUES = 10_000

_TIME = r"(?:\d+:)?\d{1,2}:\d{1,2}[,.]\d{1,3}"
_TIMING = re.compile(rf"^\s*({_TIME})\s*-->\s*({_TIME})(?:\s.*)?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_VTT_BLOCKS = ("WEBVTT", "NOTE", "STYLE", "REGION")


class TranscriptFormatError(ValueError):
    pass


@dataclass
class _Cue:
    number: int
    line: int
    lines: list[str]


def _decode(data: bytes) -> str:
    """UTF-8 or UTF-16 (with or without a byte-order mark) text; anything else is refused."""
    head = data[:4096]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif len(head) >= 4 and head[1::2].count(0) > 0.9 * len(head[1::2]):
        encoding = "utf-16-le"  # ASCII-range text saved as UTF-16 without a mark
    elif len(head) >= 4 and head[0::2].count(0) > 0.9 * len(head[0::2]):
        encoding = "utf-16-be"
    else:
        encoding = "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        if encoding == "utf-8-sig":
            raise TranscriptFormatError("This file is not UTF-8 or UTF-16 text.") from None
        raise TranscriptFormatError(
            "This file is not UTF-16 text: it ends in the middle of a character."
        ) from None
    # After decoding, so that UTF-16's zero bytes are not taken for binary data.
    if _CONTROL.search(text[:65536]):
        raise TranscriptFormatError("This file is not text (it contains binary data).")
    return text.lstrip("\ufeff")


def _blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, lines) of each blank-line-separated block."""
    start, lines = 0, []
    for n, line in enumerate(text.split("\n"), 1):
        if line.strip():
            if not lines:
                start = n
            lines.append(line)
        elif lines:
            yield start, lines
            lines = []
    if lines:
        yield start, lines


def _check_cues(text: str, kind: str) -> int:
    """Check every cue's layout and timing; returns how many cues there are.
    Raises TranscriptFormatError naming the first bad cue."""
    example = "00:00:01,000 --> 00:00:04,000" if kind == "SRT" else "00:00:01.000 --> 00:00:04.000"
    count = 0
    for first_line, lines in _blocks(text):
        if kind == "WebVTT" and lines[0].split(" ", 1)[0].strip() in _VTT_BLOCKS:
            continue
        count += 1
        where = f"Cue {count} (line {first_line})"
        if count > MAX_CUES:
            raise TranscriptFormatError(
                f"This {kind} file has more than {MAX_CUES:,} captions, the most we import "
                "(about ten hours of speech). Split it into parts."
            )
        timing = next((i for i, line in enumerate(lines[:3]) if "-->" in line), None)
        if timing is None:
            raise TranscriptFormatError(f"{where} has no timing line: each cue needs a line like {example}.")
        m = _TIMING.match(lines[timing])
        if not m:
            raise TranscriptFormatError(f"{where}: its timing line is not two times like {example}.")
        if kind == "SRT" and timing != 1:
            raise TranscriptFormatError(
                f"{where}: the timing line must follow the cue's number, on the second line."
            )
        start, end = _secs(m.group(1)), _secs(m.group(2))
        if end < start:
            raise TranscriptFormatError(f"{where} ends before it starts.")
    return count


def parse_transcript(name: str, data: bytes) -> tuple[str, list[dict]]:
    """(text, segments) from a .txt, .srt or .vtt file; segments are empty for plain text."""
    text = _decode(data).replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise TranscriptFormatError("The transcript file is empty.")
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext == "vtt" or text.startswith("WEBVTT"):
        segments = _parse_vtt(text)
    elif ext == "srt" or re.match(r"^\d+\s*\n\d\d:\d\d:\d\d[,.]\d+\s*-->", text):
        segments = _parse_srt(text)
    else:
        return re.sub(r"\s+", " ", text), []
    if not segments:
        raise TranscriptFormatError("The subtitle file holds no captions.")
    return " ".join(s["text"] for s in segments), segments


def _parse_vtt(text: str) -> list[dict]:
    if not re.match(r"WEBVTT(?:[ \t].*)?$", text.split("\n", 1)[0]):
        raise TranscriptFormatError("A WebVTT file must start with the line WEBVTT.")
    expected = _check_cues(text, "WebVTT")
    try:
        captions = webvtt.from_buffer(io.StringIO(text)).captions
    except Exception as exc:
        raise TranscriptFormatError(
            "This WebVTT file could not be read: its cues are not laid out as WebVTT's are."
        ) from exc
    if len(captions) != expected:  # webvtt-py drops cues it cannot read, silently
        raise TranscriptFormatError(
            f"Cue {len(captions) + 1} of this WebVTT file could not be read: check its times and layout."
        )
    return [
        {
            "start": c.start_time.in_milliseconds() / 1000,
            "end": c.end_time.in_milliseconds() / 1000,
            "text": c.text.strip(),
        }
        for c in captions
        if c.text.strip()
    ]


def _parse_srt(text: str) -> list[dict]:
    _check_cues(text, "SRT")
    try:
        subs = list(srt.parse(text))
    except srt.SRTParseError as exc:
        cue = text[: exc.expected_start].count("\n\n") + 1
        raise TranscriptFormatError(
            f"Cue {cue} of this SRT file could not be read: a cue is a number, a timing line and its text."
        ) from exc
    return [
        {"start": s.start.total_seconds(), "end": s.end.total_seconds(), "text": s.content.strip()}
        for s in subs
        if s.content.strip()
    ]


def _secs(timestamp: str) -> float:
    """A timing line's `01:02:03,450` (SRT) or `02:03.450` (WebVTT) in seconds."""
    parts = [float(p) for p in timestamp.replace(",", ".").split(":")]
    while len(parts) < 3:
        parts.insert(0, 0.0)
    h, m, s = parts
    return round(h * 3600 + m * 60 + s, 3)
