from __future__ import annotations

import json
from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe

from workers.speech.chunking import clock as _clock

register = template.Library()


@register.filter
def clock(seconds) -> str:
    """4.2 → "0:04", 3725 → "1:02:05": how players show a position."""
    try:
        return _clock(int(float(seconds)))  # a player shows the second it is in
    except (TypeError, ValueError):
        return ""


# A template loop costs about 0.15 ms a segment, so 0.4 s for a 3-hour meeting's
# 3,000 segments; these build the same markup in a few milliseconds (bench/pages.py).
# Every value is escaped here, as the template engine would.


@register.simple_tag
def segment_items(
    segments: list[dict], timestamps: bool, language: str = "", task: str = "transcribe"
) -> SafeString:
    """The detail page's <li> per segment: data-start/end for seeking, the time, the text.
    A segment spoken in another language than the transcript's main one is marked so,
    and its text carries its `lang` (not where it was translated to English)."""
    out = []
    for s in segments:
        start = escape(str(s.get("start", "")))
        time = f'<span class="time">{clock(s.get("start"))}</span>' if timestamps else ""
        spoken = escape(s.get("language") or "")
        mark = (
            f'<span class="lang" title="spoken language">{spoken}</span>'
            if spoken and spoken != language
            else ""
        )
        lang = f' lang="{spoken}"' if spoken and task != "translate" else ""
        out.append(
            f'<li class="segment" data-start="{start}" data-end="{escape(str(s.get("end", "")))}" tabindex="0">'
            f'{time}{mark}<span class="text"{lang}>{escape(s.get("text", ""))}</span></li>\n'
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


@register.simple_tag
def segment_textareas(segments: list[dict], timestamps: bool, named: bool) -> SafeString:
    """The edit page's labelled box per segment; named seg-<i> only where the
    form can be posted without script (see views.EDIT_FIELDS_WITHOUT_SCRIPT)."""
    out = []
    for i, s in enumerate(segments):
        label = f"{clock(s.get('start'))}–{clock(s.get('end'))}" if timestamps else "Text"
        name = f' name="seg-{i}"' if named else ""
        out.append(
            f'<p><label for="seg-{i}">{label}</label><textarea id="seg-{i}"{name} data-index="{i}" rows="2" '
            f'maxlength="5000">{escape(s.get("text", ""))}</textarea></p>\n'
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


@register.simple_tag
def words_data(segments: list[dict]) -> SafeString:
    """Word timings for app.js as a JSON data block: [index, words] per segment
    that has them, the words as stored. Serialised whole in C rather than
    reshaped word by word, and escaped with str.replace: Django's json_script
    escapes with str.translate, a third of a second on a 3-hour meeting."""
    words = [[i, s["words"]] for i, s in enumerate(segments) if s.get("words")]
    if not words:
        return mark_safe("")
    data = json.dumps(words, separators=(",", ":"))
    data = data.replace("&", "\\u0026").replace("<", "\\u003C").replace(">", "\\u003E")
    return mark_safe(f'<script id="words" type="application/json">{data}</script>')  # noqa: S308 - escaped above
