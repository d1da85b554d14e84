"""How many requests go to a transcription server at once, and how long each may take.

A self-hosted Whisper server on a CPU often serves one request at a time and keeps
working on a request whose client gave up. Against such a server a fixed timeout is
wrong twice over: a request queued behind others times out though nothing is broken,
and re-sending it adds a second copy of the same work to the queue.

So a request's time limit grows with the audio the server may have to get through
before it answers: its own, and that of every request in flight beside it, or about
to be (a serial server works through them first, in whatever order they arrive). A timeout means the server is slower than allowed
for: the limits double, the number of requests in flight halves (and grows back by one
for every `most` answers in time), and the abandoned request keeps its place until the
doubled limit would have run out, so the server can finish it before its part is sent
again. No part ever has two copies in flight from here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

# However slow a server proved, its limits stop growing here.
MAX_SLOWNESS = 64.0


@dataclass(frozen=True)
class Ticket:
    """One request's place: its audio, its time limit, and the pace it was sent at."""

    seconds: float
    timeout: float
    limit: int
    slowness: float


class Pacer:
    def __init__(self, most: int, timeout: float, per_audio_second: float):
        self.most = max(most, 1)
        self.limit = self.most
        self.timeout = timeout
        self.per_audio_second = per_audio_second
        self.slowness = 1.0
        self._in_flight = 0
        self._audio = 0.0
        self._answered = 0
        self._cond = threading.Condition()

    def acquire(self, seconds: float, peers: int = 1) -> Ticket:
        """Wait for a place, then take it for a request carrying `seconds` of audio, one of
        `peers` like it that go out together (the parts of one file)."""
        with self._cond:
            self._cond.wait_for(lambda: self._in_flight < self.limit)
            self._in_flight += 1
            self._audio += seconds
            ahead = max(self._audio, seconds * min(peers, self.limit))
            timeout = (self.timeout + self.per_audio_second * ahead) * self.slowness
            return Ticket(seconds, timeout, self.limit, self.slowness)

    def answered(self, ticket: Ticket) -> None:
        with self._cond:
            self._answered += 1
            if self._answered >= self.most and self.limit < self.most:
                self.limit += 1
                self._answered = 0
            self._release(ticket)

    def timed_out(self, ticket: Ticket) -> float:
        """Slow down at once (once per burst: requests sent at the same pace count as one
        timeout); returns how much longer the abandoned request keeps its place."""
        with self._cond:
            self.limit = min(self.limit, max(ticket.limit // 2, 1))
            self.slowness = min(max(self.slowness, ticket.slowness * 2), MAX_SLOWNESS)
            self._answered = 0
        return ticket.timeout

    def release(self, ticket: Ticket) -> None:
        with self._cond:
            self._release(ticket)

    def _release(self, ticket: Ticket) -> None:
        self._in_flight -= 1
        self._audio -= ticket.seconds
        self._cond.notify_all()
