from __future__ import annotations

from django.contrib import admin, messages

from .models import FAILED, Transcript
from .pipeline.dispatch import dispatch
from .templatetags.transcript_tags import clock


@admin.register(Transcript)
class TranscriptAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "status", "length", "language", "engine", "created_at")
    list_filter = ("status", "owner", "source", "engine")
    search_fields = ("title", "original_name", "id")
    readonly_fields = (
        "id",
        "length",
        "attempts",
        "lease_expires_at",
        "started_at",
        "completed_at",
        "created_at",
        "updated_at",
    )
    actions = ["retry"]

    @admin.display(description="Duration", ordering="duration")
    def length(self, obj: Transcript) -> str:
        return clock(obj.duration) if obj.duration is not None else "–"

    @admin.action(description="Retry selected failed transcripts")
    def retry(self, request, queryset):
        retried = 0
        for t in queryset.filter(status=FAILED).exclude(audio=""):
            if t.requeue():
                dispatch(t.id)
                retried += 1
        self.message_user(request, f"Retrying {retried} transcript(s).", messages.SUCCESS)
