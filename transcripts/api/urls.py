from __future__ import annotations

from django.urls import path

from . import openai_compat, rest, settings_views

urlpatterns = [
    path("api/v1/", rest.urls()),
    path("api/v1/<path:rest>", rest.not_found_json),
    path("v1/models", openai_compat.models),
    path("v1/models/<str:name>", openai_compat.model),
    path("v1/audio/transcriptions", openai_compat.transcriptions),
    path("v1/audio/translations", openai_compat.translations),
    path("settings/api/", settings_views.api_settings, name="api_settings"),
    path("settings/api/keys/<int:key_id>/revoke/", settings_views.revoke_key, name="api_key_revoke"),
    path(
        "settings/api/webhooks/<int:webhook_id>/delete/", settings_views.delete_webhook, name="webhook_delete"
    ),
]
