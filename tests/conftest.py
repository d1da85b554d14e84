from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path):
    """Each test gets its own media folder and runs background work inline,
    unless it asks for the thread runner."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": settings.MEDIA_ROOT},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.TRANSCRIPTS_BUCKET = ""
    settings.TRANSCRIBE_RUNNER = "inline"
    settings.TRANSCRIBE_ENGINE = "local"
    settings.WHISPER_MODEL = "tiny.en"  # the fastest; tests that need another model say so
    yield


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user("alice", password="correct horse 1")


@pytest.fixture
def bob(db) -> User:
    return User.objects.create_user("bob", password="battery staple 2")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def fixture_path(name: str) -> Path:
    return FIXTURES / name


def upload_file(name: str, as_name: str | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(as_name or name, fixture_path(name).read_bytes())


def copy_fixture(name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fixture_path(name), dest)
    return dest


@pytest.fixture
def post_upload(alice_client, django_capture_on_commit_callbacks):
    """POST to the upload form and run what it queued after commit (the dispatch)."""

    def post(data: dict, client=None):
        with django_capture_on_commit_callbacks(execute=True):
            return (client or alice_client).post("/upload/", data)

    return post
