"""The local runner: worker threads taking turns between owners, and a sweeper.

It starts with the serving process (project/wsgi.py calls `start_local_worker`),
so rows a previous run left queued or processing are recovered with no request
needed. Never used on Lambda, where each `@task` is its own invocation.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connections
from django.utils import timezone

from transcripts.models import Transcript, stale_sweep

from . import Outcome
from .run import run

log = logging.getLogger(__name__)


class FairQueue:
    """Transcript ids waiting for a worker, in turns between owners: the owner whose
    last turn is longest ago goes first (one never served, first of all), so one
    person's twenty uploads do not hold up someone else's one. An id already
    waiting is not added twice."""

    def __init__(self):
        self._waiting: dict[object, list[str]] = {}  # owner → ids, owners in order of arrival
        self._last_turn: dict[object, int] = {}
        self._turns = 0
        self._cond = threading.Condition()
        self._closed = False

    def put(self, owner, transcript_id: str) -> bool:
        with self._cond:
            if any(transcript_id in ids for ids in self._waiting.values()):
                return False
            self._waiting.setdefault(owner, []).append(transcript_id)
            self._cond.notify()
            return True

    def get(self) -> str | None:
        """The next id, waiting until there is one; None once closed."""
        with self._cond:
            while not self._waiting and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            owner = min(self._waiting, key=lambda o: self._last_turn.get(o, -1))
            ids = self._waiting[owner]
            transcript_id = ids.pop(0)
            if not ids:
                del self._waiting[owner]
            self._turns += 1
            self._last_turn[owner] = self._turns
            return transcript_id

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class LocalWorker:
    """`workers` threads working through a FairQueue, plus a sweeper that recovers
    stale rows at start, then whenever a lease runs out (at least every `sweep_seconds`).
    A transient failure is retried after `retry_seconds` by a timer, not by a
    worker thread sleeping; a busy database after `busy_seconds`, a blip rather
    than a failure."""

    def __init__(
        self,
        workers: int,
        sweep_seconds: float = 60.0,
        retry_seconds: float = 5.0,
        busy_seconds: float = 1.0,
    ):
        self.queue = FairQueue()
        self.sweep_seconds = sweep_seconds
        self.retry_seconds = retry_seconds
        self.busy_seconds = busy_seconds
        self._stop = threading.Event()
        self._timers: set[threading.Timer] = set()
        self._threads = [
            threading.Thread(target=self._work, name=f"transcribe-{i + 1}", daemon=True)
            for i in range(max(workers, 1))
        ]
        self._threads.append(threading.Thread(target=self._sweep, name="transcribe-sweeper", daemon=True))
        for thread in self._threads:
            thread.start()

    def submit(self, transcript_id) -> None:
        owner = Transcript.objects.filter(id=transcript_id).values_list("owner_id", flat=True).first()
        self.queue.put(owner, str(transcript_id))

    def _work(self) -> None:
        try:
            self._work_through_queue()
        finally:
            connections.close_all()  # this thread's connections: a server may drop the database

    def _work_through_queue(self) -> None:
        while (transcript_id := self.queue.get()) is not None:
            close_old_connections()
            try:
                if run(transcript_id) == Outcome.RETRY:
                    self._retry_later(transcript_id, self.retry_seconds)
            except (OperationalError, InterfaceError):
                # The database was busy or away (SQLite answers "locked" at once under load):
                # the job is not lost, it comes back after a pause; the claim keeps it single.
                log.warning("transcript %s: database unavailable, retrying", transcript_id, exc_info=True)
                self._retry_later(transcript_id, self.busy_seconds)
            except Exception:
                log.exception("transcript %s: worker failed", transcript_id)
            finally:
                close_old_connections()

    def _retry_later(self, transcript_id: str, seconds: float) -> None:
        def resubmit() -> None:
            self._timers.discard(timer)
            try:
                self.submit(transcript_id)
            finally:
                connections.close_all()  # this timer thread's, which ends here

        timer = threading.Timer(seconds, resubmit)
        timer.daemon = True
        self._timers.add(timer)
        if not self._stop.is_set():
            timer.start()

    def _sweep(self) -> None:
        try:
            self._sweep_until_stopped()
        finally:
            connections.close_all()

    def _sweep_until_stopped(self) -> None:
        while not self._stop.is_set():
            wait = self.sweep_seconds
            try:
                close_old_connections()
                for transcript_id in Transcript.objects.requeue_stale():
                    log.info("recovering stale transcript %s", transcript_id)
                    self.submit(transcript_id)
                stale_sweep.send(sender=Transcript)
                expiry = Transcript.objects.next_lease_expiry()
                if expiry is not None:
                    # Just after the next lease runs out: a dead worker's row waits no longer.
                    wait = min(wait, max((expiry - timezone.now()).total_seconds() + 0.5, 0.5))
            except Exception:
                log.exception("stale-row sweep failed")
            finally:
                close_old_connections()
            self._stop.wait(wait)

    def shutdown(self) -> None:
        """Stop taking work and wait for the running jobs; queued rows stay queued in the database."""
        self._stop.set()
        for timer in list(self._timers):
            timer.cancel()
        self.queue.close()
        for thread in self._threads:
            thread.join()


_worker: LocalWorker | None = None
_worker_lock = threading.Lock()


def local_worker() -> LocalWorker:
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = LocalWorker(settings.TRANSCRIBE_WORKERS)
        return _worker


def start_local_worker() -> None:
    """Start the local worker now, if this process runs one (the serving process calls this)."""
    if settings.TRANSCRIBE_RUNNER == "thread":
        local_worker()


def stop_local_worker() -> None:
    global _worker
    with _worker_lock:
        worker, _worker = _worker, None
    if worker is not None:
        worker.shutdown()
