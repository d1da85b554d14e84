"""Long audio on Lambda: one `@task` invocation per part, merged when the last lands.

One Lambda runs at most 15 minutes. Audio longer than CHUNK_TASK_THRESHOLD_SECONDS
is cut at pauses into parts (workers/chunking.py) stored under
`work/<transcript-uuid>/` (the S3 event router ignores that prefix), and the parts are
transcribed by `transcribe_parts` tasks: `lanes` chains run side by side, each
invocation doing one part, then handing the rest of its chain to a new one.

Every finished part is stored at once; the row stays `processing`, its lease
renewed as parts finish, so a vanished invocation is recovered by the stale-row
sweep, and a retry (automatic or from the UI) runs only the parts still missing.
The merge happens once: the finisher is whoever moves `progress` to 1.0 with a
conditional UPDATE.
"""

from __future__ import annotations

import logging
import tempfile

from django.conf import settings
from django.utils import timezone

from transcripts import storage as store
from workers.speech import chunking
from workers.speech.audio import AudioError
from workers.speech.chunking import Piece, Span
from workers.speech.engines import EngineError, get_engine
from workers.speech.parts import StoredParts, merge, work_prefix

from .models import PROCESSING, Transcript

log = logging.getLogger(__name__)


def wants_tasks(duration: float) -> bool:
    return settings.TRANSCRIBE_RUNNER == "lambda" and duration > settings.CHUNK_TASK_THRESHOLD_SECONDS


def _openai() -> bool:
    return settings.TRANSCRIBE_ENGINE == "openai"


def part_seconds() -> float:
    return settings.OPENAI_CHUNK_SECONDS if _openai() else settings.CHUNK_LOCAL_WINDOW_SECONDS


def lanes() -> int:
    return max(settings.OPENAI_MAX_CONCURRENCY if _openai() else settings.CHUNK_TASK_LANES, 1)


def _plan_key(transcript_id) -> str:
    return f"{work_prefix(transcript_id)}plan.json"


def _audio_key(transcript_id, index: int) -> str:
    return f"{work_prefix(transcript_id)}part-{index + 1}.ogg"


def load_plan(transcript_id) -> tuple[list[Piece], float] | None:
    key = _plan_key(transcript_id)
    if not store.exists(key):
        return None
    data = store.get_json(key)
    pieces = [
        Piece(Span(i, start, end), _audio_key(transcript_id, i), offset)
        for i, (start, end, offset) in enumerate(data["parts"])
    ]
    return pieces, data["duration"]


def fan_out(transcript: Transcript, path: str, duration: float) -> str:
    """Cut and store the parts (once), then start the chains for the parts still missing."""
    transcript_id = str(transcript.id)
    planned = load_plan(transcript_id)
    if planned is None:
        with tempfile.TemporaryDirectory(prefix="parts-") as work:
            pieces = chunking.split(path, duration, part_seconds(), work)
            for p in pieces:
                store.put_file(
                    _audio_key(transcript_id, p.span.index), p.path, {"transcript-id": transcript_id}
                )
        # The plan goes last: where it exists, every part's audio does too.
        doc = {"duration": duration, "parts": [[p.span.start, p.span.end, p.offset] for p in pieces]}
        store.put_json(_plan_key(transcript_id), doc, {"transcript-id": transcript_id})
        planned = load_plan(transcript_id)
    pieces, _ = planned
    stored = StoredParts(transcript_id)
    missing = [p.span.index for p in pieces if stored.get(p.span) is None]
    log.info("transcript %s: %d parts, %d to do", transcript_id, len(pieces), len(missing))
    if not missing:
        return finish(transcript_id)
    transcript.heartbeat(min((len(pieces) - len(missing)) / len(pieces), 0.99))
    from .tasks import transcribe_parts

    n = lanes()
    for lane in range(min(n, len(missing))):
        transcribe_parts(transcript_id, missing[lane::n])
    return "split"


def run_part(transcript_id: str, indexes: list[int]) -> str:
    """Transcribe the first part of a chain, pass the rest on, merge if it was the last."""
    transcript = Transcript.objects.filter(id=transcript_id, status=PROCESSING).first()
    planned = load_plan(transcript_id)
    if transcript is None or planned is None or not indexes:
        return "skipped"
    pieces, _ = planned
    piece = pieces[indexes[0]]
    stored = StoredParts(transcript_id)
    if stored.get(piece.span) is None:
        options = transcript.transcribe_options()
        label = piece.span.label(len(pieces))
        from .tasks import throttled

        # Any sign of life renews the lease, so the sweep leaves a working row alone.
        progress = throttled(lambda _fraction: transcript.heartbeat(_done(pieces, stored)))

        try:
            with store.local_copy(piece.path) as path:
                result = get_engine().transcribe(path, options, progress)
        except (EngineError, AudioError) as exc:
            return _part_failed(transcript, f"{label.capitalize()} failed: {exc}")
        except Exception:
            log.exception("transcript %s: %s failed", transcript_id, label)
            from .tasks import UNEXPECTED

            return _part_failed(transcript, f"{label.capitalize()} failed: {UNEXPECTED}")
        stored.put(piece.span, result)
    transcript.heartbeat(_done(pieces, stored))
    if len(indexes) > 1:
        from .tasks import transcribe_parts

        transcribe_parts(transcript_id, indexes[1:])
    return finish(transcript_id)


def _done(pieces: list[Piece], stored: StoredParts) -> float:
    # Below 1.0 until merged: 1.0 is the finisher's mark.
    done = sum(1 for p in pieces if store.exists(stored.key(p.span.index)))
    return min(done / len(pieces), 0.99)


def _part_failed(transcript: Transcript, reason: str) -> str:
    from .tasks import _failed

    log.warning("transcript %s: %s", transcript.id, reason)
    return _failed(transcript, reason)


def finish(transcript_id: str) -> str:
    """Merge and store the result once every part is in. Safe to call any number of times."""
    planned = load_plan(transcript_id)
    if planned is None:
        return "skipped"
    pieces, duration = planned
    stored = StoredParts(transcript_id)
    results = [stored.get(p.span) for p in pieces]
    if any(r is None for r in results):
        return "waiting"
    won = Transcript.objects.filter(id=transcript_id, status=PROCESSING, progress__lt=1.0).update(
        progress=1.0, updated_at=timezone.now()
    )
    if not won:
        return "skipped"
    transcript = Transcript.objects.get(id=transcript_id)
    merged = merge(results, pieces, duration)
    total = (timezone.now() - transcript.started_at).total_seconds() if transcript.started_at else 0.0
    merged.timings = {"total": round(total, 3), "parts": len(pieces)}
    from .tasks import store_result

    store_result(transcript, merged)
    stored.clear()
    return "completed"
