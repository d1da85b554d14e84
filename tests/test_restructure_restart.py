"""After `kill -9`, the next server process finishes the interrupted transcript by
itself: the local worker starts with the process, not on its first request."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from .conftest import fixture_path

ROOT = Path(__file__).resolve().parent.parent
LEASE_SECONDS = 4
# Any WSGI server imports project.wsgi; the standard library's serves here, and no request is made.
SERVE = (
    "from wsgiref.simple_server import make_server\n"
    "from project.wsgi import application\n"
    "make_server('127.0.0.1', 0, application).serve_forever()\n"
)


def _env(data_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "TRANSCRIBE_RUNNER": "thread",
        "TRANSCRIBE_ENGINE": "local",
        "TRANSCRIBE_LEASE_SECONDS": str(LEASE_SECONDS),
        "WHISPER_THREADS": "1",
    }
    for name in ("DATABASE_URL", "TRANSCRIPTS_BUCKET", "OPENAI_API_KEY"):
        env.pop(name, None)
    return env


def _manage(env, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)


def _serve(env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SERVE], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _status(db: Path, transcript_id: str) -> str:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=20) as conn:
        (status,) = conn.execute(
            "SELECT status FROM transcripts_transcript WHERE id = ?", (transcript_id.replace("-", ""),)
        ).fetchone()
    return status


def _wait_for(db: Path, transcript_id: str, status: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _status(db, transcript_id) == status:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_a_transcript_interrupted_by_kill_9_is_finished_within_a_lease_and_15_s_of_the_restart(tmp_path):
    env = _env(tmp_path)
    db = tmp_path / "db.sqlite3"
    transcript_id = str(uuid.uuid4())
    key = f"audio/{transcript_id}/speech.mp3"
    (tmp_path / "media" / key).parent.mkdir(parents=True)
    (tmp_path / "media" / key).write_bytes(fixture_path("speech.mp3").read_bytes())
    _manage(env, "migrate", "--noinput")
    _manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; from transcripts.models import QUEUED, Transcript; "
        f"Transcript.objects.create(id='{transcript_id}', owner=User.objects.create_user('ann'), "
        f"title='talk', audio='{key}', status=QUEUED)",  # queued by a process that is gone
    )

    first = _serve(env)
    try:
        # No request: the process's own worker picks the row up...
        assert _wait_for(db, transcript_id, "processing", 60)
    finally:
        first.send_signal(signal.SIGKILL)  # ...and dies mid-run
        first.wait()
    assert _status(db, transcript_id) == "processing"

    restarted = time.monotonic()
    second = _serve(env)
    try:
        assert _wait_for(db, transcript_id, "completed", LEASE_SECONDS + 15)
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait()
    assert time.monotonic() - restarted <= LEASE_SECONDS + 15
