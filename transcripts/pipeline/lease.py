"""The one lease rule.

A row that is queued or processing carries `lease_expires_at`. The process working
on a row renews it every third of TRANSCRIBE_LEASE_SECONDS (a `LeaseKeeper` thread)
for as long as it works, however slow one engine call is. So the lease runs out
only when that process is gone (a crash, `kill -9`, a Lambda timeout), and then
`recover_stale` puts the row back to work: within a lease and one sweep.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import connections
from django.utils import timezone

from transcripts.models import PROCESSING, Transcript

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews a claimed row's lease from a side thread while the work runs. The thread ends with the work."""

    def __init__(self, transcript_id, lease_seconds: float | None = None):
        self.transcript_id = transcript_id
        self.lease_seconds = lease_seconds or settings.TRANSCRIBE_LEASE_SECONDS
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def renew(self) -> bool:
        lease = timezone.now() + timedelta(seconds=self.lease_seconds)
        return bool(
            Transcript.objects.filter(id=self.transcript_id, status=PROCESSING).update(lease_expires_at=lease)
        )

    def _keep(self) -> None:
        try:
            while not self._stop.wait(self.lease_seconds / 3):
                self.renew()
        except Exception:
            log.exception("could not renew the lease of %s", self.transcript_id)
        finally:
            connections.close_all()  # this thread's connections only
