"""`manage.py transcribe --speakers … --format json|docx` as a script would run it."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys

import docx
import pytest

from tests.conftest import fixture_path
from tests.conversation import make_conversation
from tests.test_cli import ROOT, transcribe


@pytest.fixture(scope="module")
def conversation(tmp_path_factory):
    return make_conversation(tmp_path_factory.mktemp("cli-conversation"))[0]


@pytest.mark.slow
def test_json_carries_a_speaker_per_segment_and_the_speakers_map(conversation, tmp_path):
    result = transcribe(str(conversation), "--speakers", "--format", "json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["speakers"] == {"S1": "Speaker 1", "S2": "Speaker 2"}
    assert [s["speaker"] for s in data["segments"]] == ["S1", "S2"] * 4


@pytest.mark.slow
def test_docx_with_an_exact_count_goes_to_the_file_named(conversation, tmp_path):
    out = tmp_path / "interview.docx"
    result = transcribe(
        str(conversation), "--speakers", "2", "--format", "docx", "-o", str(out), tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    paragraphs = [p.text for p in docx.Document(str(out)).paragraphs]
    assert paragraphs[0] == "conversation.wav" and paragraphs[1].startswith("Duration: 0:3")
    assert paragraphs[2].startswith("[0:00] Speaker 1: Good morning")
    assert paragraphs[3].startswith("[0:0") and "Speaker 2: " in paragraphs[3]


def test_without_speakers_json_has_no_speaker_fields_and_docx_goes_to_a_pipe(tmp_path):
    data = json.loads(
        transcribe(str(fixture_path("speech.ogg")), "--format", "json", tmp_path=tmp_path).stdout
    )
    assert data["speakers"] == {} and all("speaker" not in s for s in data["segments"])
    env = {**os.environ, "DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    piped = subprocess.run(
        [sys.executable, "manage.py", "transcribe", str(fixture_path("speech.ogg")), "--format", "docx"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert piped.returncode == 0, piped.stderr
    text = " ".join(p.text for p in docx.Document(io.BytesIO(piped.stdout)).paragraphs)
    assert "fox" in text.lower()


def test_docx_to_a_terminal_is_refused_before_any_work(tmp_path):
    primary, replica = pty.openpty()
    env = {**os.environ, "DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "transcribe", str(fixture_path("speech.ogg")), "--format", "docx"],
        cwd=ROOT,
        env=env,
        stdout=replica,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    os.close(replica)
    os.close(primary)
    assert result.returncode != 0
    assert "binary format: give -o FILE" in result.stderr


@pytest.mark.parametrize("count", ["two", "0", "4-2"])
def test_a_bad_speaker_count_is_a_clear_error(tmp_path, count):
    result = transcribe(str(fixture_path("speech.ogg")), "--speakers", count, tmp_path=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "speakers" in result.stderr or "range" in result.stderr


def test_an_unwritable_output_is_a_clear_error(tmp_path):
    result = transcribe(
        str(fixture_path("speech.ogg")), "-o", str(tmp_path / "no" / "such" / "dir.txt"), tmp_path=tmp_path
    )
    assert result.returncode != 0 and "cannot write" in result.stderr and "Traceback" not in result.stderr
