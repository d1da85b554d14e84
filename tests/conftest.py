"""Fixtures every test module shares. The AWS ones live in aws_helpers.py and are
imported here, so a module asks for a fixture by name and nothing else."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from .aws_helpers import (  # noqa: F401 - fixtures, shared by name
    async_invokes,
    aws_credentials,
    moto_server,
    s3,
    s3_calls,
    zappa_handler,
    zappa_settings_dir,
)

FIXTURES = Path(__file__).parent / "fixtures"
OPENAI_KEY = "sk-test-key"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse 1"


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


def upload_file(name: str | Path, as_name: str | None = None) -> SimpleUploadedFile:
    """A fixture (by name) or any file (by path) as a browser would upload it."""
    path = Path(name) if isinstance(name, Path) else fixture_path(name)
    return SimpleUploadedFile(as_name or path.name, path.read_bytes())


def upload(client, name: str | Path, as_name: str | None = None, **fields):
    """POST audio to the upload form; the transcript it made, as the dispatch left it.
    The dispatch runs after commit: at once in transactional tests (`transaction=True`)."""
    from transcripts.models import Transcript

    client.post("/upload/", {"audio": upload_file(name, as_name), **fields})
    return Transcript.objects.order_by("-created_at").first()


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


class CountedEngine:
    """The real local engine, counting its runs: tests assert how many transcriptions
    happened, however many triggers arrived. `before(path)`, when set, runs first
    (a test can hold a run there, or fail it)."""

    name = "local"

    def __init__(self, engine):
        self.engine = engine
        self.calls: list[str] = []
        self.before = None
        self._lock = threading.Lock()

    def transcribe(self, path, options, progress=None, **kwargs):
        with self._lock:
            self.calls.append(path)
        if self.before is not None:
            self.before(path)
        return self.engine.transcribe(path, options, progress, **kwargs)


@pytest.fixture
def counted_engine(monkeypatch) -> CountedEngine:
    """Every `get_engine()` in the app answers with the counted engine for this test."""
    from transcripts import engines

    engine = CountedEngine(engines.get_engine("local"))  # built once per process, model loaded once
    monkeypatch.setitem(engines._engines, "local", engine)
    return engine


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory) -> Path:
    """The multilingual base model, assembled once for the session from its installed wheels."""
    from workers.speech import models

    folder = tmp_path_factory.mktemp("models")
    models.resolve("base", folder)
    return folder


@pytest.fixture(scope="session")
def base_engine(base_dir):
    from workers.speech.engines.local import LocalEngine

    return LocalEngine("base", "cpu", "int8", 2, 5, models_dir=base_dir)


@pytest.fixture
def base_model(settings, monkeypatch, base_dir, base_engine):
    """The app configured for `base`: forms offer its languages and tasks, the engine runs it."""
    from transcripts import engines

    settings.WHISPER_MODEL, settings.WHISPER_MODELS_DIR = "base", base_dir
    monkeypatch.setattr(engines, "_engines", {"local": base_engine})
    return base_engine


@pytest.fixture
def openai_server(settings, monkeypatch):
    """tests/openai_server.py on 127.0.0.1, selected as the engine through settings, as in production."""
    from transcripts import engines

    from .openai_server import Behaviour, FakeOpenAI

    with FakeOpenAI(Behaviour(key=OPENAI_KEY)) as srv:
        settings.TRANSCRIBE_ENGINE = "openai"
        settings.OPENAI_API_KEY = OPENAI_KEY
        settings.OPENAI_BASE_URL = srv.base_url
        settings.OPENAI_TRANSCRIBE_MODEL = "whisper-1"
        settings.OPENAI_TIMEOUT_SECONDS = 10
        settings.OPENAI_MAX_RETRIES = 3
        # get_engine builds each engine once per process; each test builds its own.
        monkeypatch.setattr(engines, "_engines", {})
        yield srv


@pytest.fixture
def local_worker(settings):
    """The thread runner with a fresh local worker, shut down before the database goes."""
    from transcripts.pipeline import queue

    settings.TRANSCRIBE_RUNNER = "thread"
    queue.stop_local_worker()
    yield queue
    queue.stop_local_worker()


@pytest.fixture
def page(live_server, local_worker, monkeypatch):
    """A Chromium page. Playwright's sync API runs an event loop in this thread,
    which makes Django refuse ORM calls here unless told they are safe."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1100, "height": 800})
        context.set_default_timeout(20_000)
        yield context.new_page()
        context.close()
        browser.close()


def wait_for_js(page, expression: str, timeout: float = 20.0) -> None:
    """Playwright's wait_for_function polls with eval() inside the page, which the
    site's Content-Security-Policy forbids; this polls from here instead."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout:g} s: {expression}")
        time.sleep(0.05)


def client_tool(venv: str, tool: str) -> Path:
    """An executable in a third-party client's venv, built by `make test` (see the Makefile).
    Missing, it is a failure under CI (a skip there would hide a broken setup), a skip elsewhere."""
    path = Path(__file__).resolve().parent.parent / venv / "bin" / tool
    if not path.exists():
        message = f"{path} is missing: run `make test` (or `make {venv}/.installed`) to build it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
