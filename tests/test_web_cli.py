"""What a person at a terminal sees: a malformed setting or argument is one clear
line on stderr, never a traceback; the secret key is made once and kept."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, env: dict[str, str] | None = None, data_dir: Path) -> subprocess.CompletedProcess:
    environ = {
        k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE")
    }
    environ.update({"DATA_DIR": str(data_dir), **(env or {})})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("DEBUG", "ture", "DEBUG='ture' is not a yes/no value"),
        ("MAX_UPLOAD_MB", "abc", "MAX_UPLOAD_MB='abc' is not a whole number"),
        ("MIN_AUDIO_SECONDS", "half", "MIN_AUDIO_SECONDS='half' is not a number"),
        ("SECURE_COOKIES", "maybe", "SECURE_COOKIES='maybe' is not a yes/no value"),
    ],
)
def test_a_malformed_setting_stops_start_up_with_one_line_naming_it(tmp_path, variable, value, says):
    line = _one_line(manage("transcribe", "--recover", env={variable: value}, data_dir=tmp_path))
    assert line.startswith("Configuration error:") and says in line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--id", "not-a-uuid"), "--id not-a-uuid: not a transcript id (a UUID)"),
        (("/dev/urandom",), "/dev/urandom: not a regular file"),
    ],
)
def test_bad_transcribe_arguments_are_one_clear_line(tmp_path, args, says):
    line = _one_line(manage("transcribe", *args, data_dir=tmp_path))
    assert says in line


def test_debug_is_off_and_the_secret_key_is_made_once_and_kept(tmp_path):
    show = "from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY)"
    first = manage("shell", "-v", "0", "-c", show, data_dir=tmp_path)
    second = manage("shell", "-v", "0", "-c", show, data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    debug, key = first.stdout.split()
    assert debug == "False" and len(key) >= 50
    assert second.stdout == first.stdout  # the same key after a restart: sessions survive
    kept = tmp_path / "secret_key"
    assert kept.read_text().strip() == key
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    other = manage("shell", "-v", "0", "-c", show, data_dir=tmp_path / "elsewhere")
    assert other.stdout.split()[1] != key  # each installation has its own
