"""What the REST API and webhooks say about a transcript: one place for both."""

from __future__ import annotations

from django.urls import reverse

from transcripts import exports
from transcripts.models import Transcript


def speakers_of(segments: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for s in segments:
        if s.get("speaker"):
            seen[str(s["speaker"])] = None
    return list(seen)


def links(t: Transcript, base: str = "") -> dict:
    api = base + reverse("api_v1:get_transcript", args=[t.id])
    return {
        "self": api,
        "web": base + t.get_absolute_url(),
        "exports": {fmt: f"{api}export/{fmt}" for fmt in exports.CONTENT_TYPES},
    }


def summary(t: Transcript, base: str = "") -> dict:
    return {
        "id": str(t.id),
        "title": t.title,
        "status": t.status,
        "progress": t.progress,
        "error": t.error,
        "language": t.language,
        "duration": t.duration,
        "source": t.source,
        "created_at": t.created_at,
        "links": links(t, base),
    }


def detail(t: Transcript, base: str = "") -> dict:
    segments = [
        {
            "start": float(s.get("start", 0.0)),
            "end": float(s.get("end", 0.0)),
            "text": str(s.get("text", "")),
            "speaker": s.get("speaker"),
            "words": s.get("words"),
        }
        for s in t.segments
    ]
    return {
        **summary(t, base),
        "model": t.model,
        "word_timestamps": t.word_timestamps,
        "completed_at": t.completed_at,
        "text": t.text,
        "speakers": speakers_of(t.segments),
        "segments": segments,
    }
