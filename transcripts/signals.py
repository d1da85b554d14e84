from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import UPLOADED, Transcript
from .pipeline.dispatch import dispatch


@receiver(post_save, sender=Transcript, dispatch_uid="transcript_created")
def transcript_created(sender, instance: Transcript, created: bool, **kwargs) -> None:
    if created and instance.status == UPLOADED and instance.audio:
        # After commit: the worker must find the row, and a rolled-back upload must not run.
        transaction.on_commit(lambda: dispatch(instance.id))
