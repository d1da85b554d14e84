from __future__ import annotations

from django import template

from transcripts.exports import speaker_name
from workers.speech.speakers import default_name

register = template.Library()


@register.filter
def clock(seconds) -> str:
    """4.2 → "0:04", 3725 → "1:02:05": how players show a position."""
    try:
        total = int(float(seconds))
    except (TypeError, ValueError):
        return ""
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@register.filter
def speaker(segment: dict, speakers: dict | None) -> str:
    """The display name of a segment's speaker, as the user named them."""
    return speaker_name(segment, speakers)


@register.filter
def speaker_class(speaker_id: str | None) -> str:
    """ "S3" -> "speaker-3": eight colours in style.css, reused past the eighth speaker."""
    if not speaker_id or not str(speaker_id)[1:].isdigit():
        return ""
    return f"speaker-{(int(str(speaker_id)[1:]) - 1) % 8 + 1}"


@register.filter
def default_speaker(speaker_id: str) -> str:
    return default_name(speaker_id)
