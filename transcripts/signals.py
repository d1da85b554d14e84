from __future__ import annotations

from django.conf import settings
from django.core.signals import request_started
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import UPLOADED, Transcript


@receiver(post_save, sender=Transcript, dispatch_uid="transcript_created")
def transcript_created(sender, instance: Transcript, created: bool, **kwargs) -> None:
    if created and instance.status == UPLOADED and instance.audio:
        from .tasks import dispatch

        # After commit: the worker must find the row, and a rolled-back upload must not run.
        transaction.on_commit(lambda: dispatch(instance.id))


@receiver(request_started, dispatch_uid="start_local_worker")
def start_local_worker(sender, **kwargs) -> None:
    """The local worker starts with the web process's first request and at once
    recovers rows a previous run left queued or processing."""
    if settings.TRANSCRIBE_RUNNER == "thread":
        from .tasks import local_worker

        local_worker()
    request_started.disconnect(dispatch_uid="start_local_worker")
