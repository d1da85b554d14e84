from __future__ import annotations

from django import template

from workers.speech.chunking import clock as _clock

register = template.Library()


@register.filter
def clock(seconds) -> str:
    """4.2 → "0:04", 3725 → "1:02:05": how players show a position."""
    try:
        return _clock(int(float(seconds)))  # a player shows the second it is in
    except (TypeError, ValueError):
        return ""
