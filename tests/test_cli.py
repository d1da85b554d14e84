"""`manage.py transcribe` as a person runs it: a real process, stdout and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import srt

from .conftest import fixture_path

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow  # the real engine on longer audio, or a process per test


def transcribe(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "WHISPER_MODEL": "tiny.en",
    }
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", "transcribe", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_it_prints_plain_text_by_default(tmp_path):
    result = transcribe(str(fixture_path("speech.mp3")), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "fox" in result.stdout.lower() and "monday" in result.stdout.lower()


def test_it_prints_srt_and_json(tmp_path):
    out = transcribe(str(fixture_path("two_sentences.mp3")), "--format", "srt", tmp_path=tmp_path).stdout
    subs = list(srt.parse(out))
    assert subs[0].index == 1 and subs[0].start.total_seconds() >= 0
    data = json.loads(
        transcribe(
            str(fixture_path("speech.ogg")), "--format", "json", "--language", "en", tmp_path=tmp_path
        ).stdout
    )
    assert data["language"] == "en" and 6 < data["duration"] < 7 and data["segments"][0]["end"] > 0


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("not_audio.mp3", "not audio or video we can read"),
        ("truncated.mp3", "truncated"),
        ("image.png", "no audio track"),
        ("short.wav", "too short"),
        ("missing.mp3", "no such file"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line_and_no_traceback(tmp_path, path, message):
    target = fixture_path(path) if path != "missing.mp3" else tmp_path / "missing.mp3"
    result = transcribe(str(target), tmp_path=tmp_path)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "CommandError" in line]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_an_empty_file_and_a_folder_are_refused(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert "empty (0 bytes)" in transcribe(str(empty), tmp_path=tmp_path).stderr
    result = transcribe(str(tmp_path), tmp_path=tmp_path)
    assert result.returncode != 0 and "is a folder" in result.stderr


def test_it_shows_progress_on_a_terminal_for_long_files(tmp_path):
    """Run under a pseudo-terminal, as a person would, with 45 s of speech."""
    import pty

    long = tmp_path / "long.wav"
    speech = str(fixture_path("two_sentences.mp3"))
    subprocess.run(["sox", speech, speech, speech, speech, "-r", "16000", str(long)], check=True)
    env = {**os.environ, "DATA_DIR": str(tmp_path), "WHISPER_MODEL": "tiny.en"}
    env.pop("DATABASE_URL", None)
    parent, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "transcribe", str(long)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=child,
        text=True,
    )
    os.close(child)
    stdout, _ = proc.communicate(timeout=300)
    seen = b""
    try:
        while chunk := os.read(parent, 4096):
            seen += chunk
    except OSError:
        pass
    os.close(parent)
    assert proc.returncode == 0
    assert b"% of 0.7 min" in seen
    assert "budget" in stdout.lower()
