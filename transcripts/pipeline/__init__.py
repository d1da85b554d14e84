"""Background work, in the order a transcript goes through it:

1. `dispatch.py`: every trigger ends in `dispatch(transcript_id)`. On Lambda that is the
   `@task transcribe` (an async invoke); locally the id joins the in-process queue
   (`queue.py`), which takes turns between owners. Rows whose worker vanished are
   dispatched again by `recover_stale`.
2. `run.py`: `run` claims the row, checks the audio, runs the engine and stores the
   result (`Transcript.store_result`) or the failure (`Transcript.fail`).
3. `parts.py`: audio too long for one Lambda invocation goes out as one `@task` per part,
   merged when the last part lands.
4. `lease.py`: while a process works on a row it keeps the row's lease in the future; when
   the process dies, the lease runs out and `recover_stale` puts the row back to work.

Recording a finished result is `transcripts.models.record_result`, called by the S3
event for `transcripts/` on AWS and directly by `store_result` locally.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """What one run of a worker did."""

    COMPLETED = "completed"  # the result is stored
    FAILED = "failed"  # the row says why
    SKIPPED = "skipped"  # nothing to do: another worker has it, or it is done or gone
    RETRY = "retry"  # a transient failure; the row is queued again
    SPLIT = "split"  # long audio went out as part tasks
    WAITING = "waiting"  # a part is done; other parts are not yet
