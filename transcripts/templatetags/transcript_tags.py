from __future__ import annotations

from django import template

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
