from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from . import direct_upload, preferences, views

urlpatterns = [
    path("", views.transcript_list, name="transcript_list"),
    path("upload/", views.upload, name="upload"),
    path("upload/direct/", direct_upload.direct_upload_start, name="direct_upload_start"),
    path("upload/direct/register/", direct_upload.direct_upload_register, name="direct_upload_register"),
    path("t/<uuid:transcript_id>/", views.transcript_detail, name="transcript_detail"),
    path("t/<uuid:transcript_id>/status/", views.transcript_status, name="transcript_status"),
    path("t/<uuid:transcript_id>/audio/", views.transcript_audio, name="transcript_audio"),
    path("t/<uuid:transcript_id>/edit/", views.transcript_edit, name="transcript_edit"),
    path("t/<uuid:transcript_id>/rename/", views.transcript_rename, name="transcript_rename"),
    path("t/<uuid:transcript_id>/retry/", views.transcript_retry, name="transcript_retry"),
    path("t/<uuid:transcript_id>/delete/", views.transcript_delete, name="transcript_delete"),
    path(
        "t/<uuid:transcript_id>/export.<str:fmt>",
        views.transcript_export,
        name="transcript_export",
    ),
    path("settings/", preferences.user_settings, name="user_settings"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
