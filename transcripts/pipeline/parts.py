"""Step 3, for long audio on Lambda: one `@task` invocation per part, merged when the last lands.

One Lambda runs at most 15 minutes. Audio longer than CHUNK_TASK_THRESHOLD_SECONDS
is cut at pauses into parts (workers/speech/chunking.py) stored under
`work/<transcript-uuid>/`, and the parts are transcribed by `transcribe_parts`
tasks: `lanes()` chains run side by side, each invocation doing one part, then
handing the rest of its chain to a new one.

Every finished part is stored at once (`StoredParts`, also what the local engine
keeps its windows in); the row stays `processing`, so a vanished invocation is
recovered by the stale-row sweep, and a retry (automatic or from the UI) runs only
the parts still missing. The merge happens once: the finisher is whoever moves
`progress` to 1.0 with a conditional UPDATE.

Speakers asked of the openai engine: its labels hold only within one request, so
the first part goes alone, and a clip of each voice it heard (workers/speech/voices.py)
goes with every other part, which then name those voices as the first part did.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import replace

from django.conf import settings
from django.utils import timezone
from zappa.asynchronous import task

from transcripts import storage as store
from transcripts.engines import get_engine
from transcripts.keys import work_prefix
from transcripts.models import PROCESSING, UNEXPECTED, Transcript, forget_if_deleted
from workers.speech import chunking, voices
from workers.speech.audio import AudioError
from workers.speech.chunking import Piece, Span
from workers.speech.engines import EngineError, TranscriptionResult, Voice, throttled
from workers.speech.parts import merge, result_from_dict

from . import Outcome
from .lease import LeaseKeeper

log = logging.getLogger(__name__)


class StoredParts:
    """A PartCache in storage, one document per part. A stored part counts only for
    the same span, so a plan made with other settings never mixes with this one."""

    def __init__(self, transcript_id):
        self.transcript_id = str(transcript_id)
        self.prefix = work_prefix(transcript_id)

    def key(self, index: int) -> str:
        return f"{self.prefix}part-{index + 1}.json"

    def get(self, span: Span) -> TranscriptionResult | None:
        data = store.get_json(self.key(span.index))
        if data is None or data.get("span") != [span.start, span.end]:
            return None
        return result_from_dict(data["result"])

    def put(self, span: Span, result: TranscriptionResult) -> None:
        store.put_json(
            self.key(span.index),
            {"span": [span.start, span.end], "result": result.to_dict()},
            {"transcript-id": self.transcript_id},
        )

    def count(self) -> int:
        """How many parts are stored (one listing)."""
        return sum(1 for k in store.list_keys(self.prefix) if k.endswith(".json") and "/part-" in k)

    def clear(self) -> None:
        store.delete_prefix(self.prefix)


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
    data = store.get_json(_plan_key(transcript_id))
    if data is None:
        return None
    pieces = [
        Piece(Span(i, start, end), _audio_key(transcript_id, i), offset)
        for i, (start, end, offset) in enumerate(data["parts"])
    ]
    return pieces, data["duration"]


def fan_out(transcript: Transcript, path: str, duration: float) -> Outcome:
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
    transcript.report_progress(min((len(pieces) - len(missing)) / len(pieces), 0.99))
    if _diarizing(transcript):
        if 0 in missing:
            # The first part alone: every other part is sent the voices it heard.
            transcribe_parts(transcript_id, [0])
            return Outcome.SPLIT
        if load_voices(transcript_id) is None:  # stopped between the two: hear them again
            with store.local_copy(pieces[0].path) as path:
                keep_voices(transcript_id, path, stored.get(pieces[0].span))
    _start_lanes(transcript_id, missing)
    return Outcome.SPLIT


def _start_lanes(transcript_id: str, missing: list[int]) -> None:
    n = lanes()
    for lane in range(min(n, len(missing))):
        transcribe_parts(transcript_id, missing[lane::n])


def _diarizing(transcript: Transcript) -> bool:
    """Speakers asked of a diarizing API, whose labels hold only within one request."""
    return _openai() and transcript.transcribe_options().speakers is not None


def _voices_key(transcript_id) -> str:
    return f"{work_prefix(transcript_id)}voices.json"


def keep_voices(transcript_id: str, path: str, result: TranscriptionResult) -> None:
    """A clip of each speaker of the first part (audio at `path`), for the parts after it."""
    heard = voices.references(path, result.segments)
    store.put_json(
        _voices_key(transcript_id), {"voices": voices.to_list(heard)}, {"transcript-id": transcript_id}
    )


def load_voices(transcript_id) -> tuple[Voice, ...] | None:
    data = store.get_json(_voices_key(transcript_id))
    return None if data is None else voices.from_list(data["voices"])


@task
def transcribe_parts(transcript_id: str, indexes: list[int]) -> str:
    """One part of a long transcript per invocation; the rest of `indexes` goes on in a new one."""
    try:
        return run_part(transcript_id, indexes)
    finally:
        forget_if_deleted(transcript_id)  # deleted while this part ran: leave nothing of it


def run_part(transcript_id: str, indexes: list[int]) -> Outcome:
    """Transcribe the first part of a chain, pass the rest on, merge if it was the last."""
    transcript = Transcript.objects.filter(id=transcript_id, status=PROCESSING).first()
    planned = load_plan(transcript_id)
    if transcript is None or planned is None or not indexes:
        return Outcome.SKIPPED
    pieces, _ = planned
    piece = pieces[indexes[0]]
    stored = StoredParts(transcript_id)
    diarizing = _diarizing(transcript)
    first = piece.span.index == 0
    if stored.get(piece.span) is None:
        options = transcript.transcribe_options()
        if diarizing and not first:
            options = replace(options, voices=load_voices(transcript_id) or ())
        done = stored.count()
        label = piece.span.label(len(pieces))
        progress = throttled(
            lambda fraction: transcript.report_progress(min((done + fraction) / len(pieces), 0.99))
        )
        try:
            with LeaseKeeper(transcript.id), store.local_copy(piece.path) as path:
                result = get_engine().transcribe(path, options, progress)
                if diarizing and first:
                    keep_voices(transcript_id, path, result)  # before the part: see fan_out
        except (EngineError, AudioError) as exc:
            return _part_failed(transcript, f"{label.capitalize()} failed: {exc}")
        except Exception:
            log.exception("transcript %s: %s failed", transcript_id, label)
            return _part_failed(transcript, f"{label.capitalize()} failed: {UNEXPECTED}")
        stored.put(piece.span, result)
        transcript.report_progress(min((done + 1) / len(pieces), 0.99))
    if len(indexes) > 1:
        transcribe_parts(transcript_id, indexes[1:])
    elif diarizing and first:
        _start_lanes(transcript_id, [p.span.index for p in pieces if stored.get(p.span) is None])
    return finish(transcript_id)


def _part_failed(transcript: Transcript, reason: str) -> Outcome:
    log.warning("transcript %s: %s", transcript.id, reason)
    transcript.fail(reason)
    return Outcome.FAILED


def finish(transcript_id: str) -> Outcome:
    """Merge and store the result once every part is in. Safe to call any number of times."""
    planned = load_plan(transcript_id)
    if planned is None:
        return Outcome.SKIPPED
    pieces, duration = planned
    stored = StoredParts(transcript_id)
    results = [stored.get(p.span) for p in pieces]
    if any(r is None for r in results):
        return Outcome.WAITING
    won = Transcript.objects.filter(id=transcript_id, status=PROCESSING, progress__lt=1.0).update(
        progress=1.0, updated_at=timezone.now()
    )
    if not won:
        return Outcome.SKIPPED
    transcript = Transcript.objects.get(id=transcript_id)
    merged = merge(results, pieces, duration, [v.id for v in load_voices(transcript_id) or ()])
    total = (timezone.now() - transcript.started_at).total_seconds() if transcript.started_at else 0.0
    merged.timings = {"total": round(total, 3), "parts": len(pieces)}
    transcript.store_result(merged)
    stored.clear()
    return Outcome.COMPLETED
