"""Long audio end to end: parts kept as they finish, failing parts named, retries redo only
what is missing, Lambda part tasks, and the local engine's windows."""

from __future__ import annotations

import json
import re

import pytest
from zappa.asynchronous import get_func_task_path, route_lambda_task

from transcripts import engines
from transcripts.models import COMPLETED, FAILED, Transcript
from transcripts.pipeline.parts import transcribe_parts
from workers.speech.engines.local import windows

from .conftest import upload
from .openai_server import long_speech_opus, speech_wav

pytestmark = pytest.mark.slow  # a minute of speech per test, through the engine


@pytest.fixture
def server(openai_server, settings):
    """The fake API with few retries and 15 s parts: a minute of speech makes four."""
    settings.OPENAI_MAX_RETRIES = 1
    settings.OPENAI_CHUNK_SECONDS = 15
    settings.TRANSCRIBE_MAX_ATTEMPTS = 1
    return openai_server


@pytest.fixture
def minute_of_speech(tmp_path):
    """About a minute of speech and pauses: four parts at OPENAI_CHUNK_SECONDS=15."""
    path = tmp_path / "minute.ogg"
    layout = long_speech_opus(str(path), 58)
    return path, layout


def work_files(settings, t) -> list[str]:
    folder = settings.MEDIA_ROOT / "work" / str(t.id)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def assert_complete_and_ordered(t, layout):
    assert t.status == COMPLETED, t.error
    assert len(t.segments) == layout.count
    for k, s in enumerate(t.segments):
        assert abs(s["start"] - (k * layout.period + layout.speech_start)) < 0.15
    assert [s["start"] for s in t.segments] == sorted(s["start"] for s in t.segments)


@pytest.mark.django_db(transaction=True)
def test_a_part_that_fails_twice_then_succeeds_completes(alice_client, server, settings, minute_of_speech):
    settings.OPENAI_MAX_RETRIES = 2
    server.behaviour.fail = {"part-2": [500, 500]}
    path, layout = minute_of_speech
    t = upload(alice_client, path, title="Long")
    assert_complete_and_ordered(t, layout)
    assert [s.status for s in server.seen if s.filename == "part-2.ogg"] == [500, 500, 200]
    assert work_files(settings, t) == []  # working files go once the result is stored


@pytest.mark.django_db(transaction=True)
def test_a_part_that_keeps_failing_fails_the_transcript_naming_it_and_retry_redoes_only_it(
    alice_client, server, settings, minute_of_speech
):
    server.behaviour.fail = {"part-3": "always"}
    path, layout = minute_of_speech
    t = upload(alice_client, path, title="Long")
    assert t.status == FAILED
    assert re.match(r"Part 3 of 4 \(0:2\d–0:4\d\) failed: the transcription service kept failing", t.error)
    assert "HTTP 500" in t.error
    # The other parts are kept.
    assert work_files(settings, t) == ["part-1.json", "part-2.json", "part-4.json"]
    page = alice_client.get(f"/t/{t.id}/").content.decode()
    assert "Part 3 of 4" in page

    server.behaviour.fail = {}
    before = len(server.seen)
    alice_client.post(f"/t/{t.id}/retry/")
    t.refresh_from_db()
    assert_complete_and_ordered(t, layout)
    assert [s.filename for s in server.seen[before:]] == ["part-3.ogg"]


@pytest.mark.django_db(transaction=True)
def test_on_lambda_long_audio_runs_as_one_task_per_part(alice_client, server, settings, minute_of_speech):
    settings.TRANSCRIBE_RUNNER = "lambda"  # off Lambda, Zappa runs each @task inline
    settings.CHUNK_TASK_THRESHOLD_SECONDS = 30
    settings.OPENAI_MAX_CONCURRENCY = 2
    server.behaviour.fail = {"part-2": "always"}
    path, layout = minute_of_speech
    t = upload(alice_client, path, title="Long")
    assert t.status == FAILED
    assert t.error.startswith("Part 2 of 4 (")
    # Part 1 finished before part 2 failed in its chain; the other chain (parts 2 and 4)
    # stopped at the failure; part 3's chain saw the row failed and did nothing.
    kept = work_files(settings, t)
    assert "plan.json" in kept and "part-1.json" in kept and "part-2.json" not in kept
    assert {f"part-{i}.ogg" for i in range(1, 5)} <= set(kept)

    server.behaviour.fail = {}
    before = len(server.seen)
    alice_client.post(f"/t/{t.id}/retry/")
    t.refresh_from_db()
    assert_complete_and_ordered(t, layout)
    redone = sorted(s.filename for s in server.seen[before:])
    assert "part-1.ogg" not in redone and "part-2.ogg" in redone
    assert work_files(settings, t) == []


@pytest.mark.django_db(transaction=True)
def test_a_part_task_goes_through_zappas_task_router_with_a_tiny_json_payload(alice, settings):
    t = Transcript.objects.create(owner=alice, title="x", status=COMPLETED)
    message = {"task_path": get_func_task_path(transcribe_parts), "args": [str(t.id), [0, 2]], "kwargs": {}}
    payload = json.dumps(message)
    assert len(payload) < 200
    # A row that is not processing is left alone: a late or duplicate part task is harmless.
    assert route_lambda_task(json.loads(payload), None) == "skipped"


@pytest.mark.django_db(transaction=True)
def test_the_local_engine_transcribes_long_audio_in_windows_split_at_pauses(alice_client, settings, tmp_path):
    settings.CHUNK_LOCAL_WINDOW_SECONDS = 8
    path = tmp_path / "repeated.wav"
    layout = speech_wav(str(path), 4)
    got = list(windows(str(path), 8))
    assert len(got) >= 2
    for offset, _ in got[1:]:
        assert layout.in_silence(offset), f"window starts inside speech at {offset:.2f}"
    assert sum(len(s) for _, s in got) == pytest.approx(layout.duration * 16000, abs=16000 * 0.1)

    engines._engines.pop("local", None)  # built with this test's window settings
    t = upload(alice_client, path, title="Long")
    assert t.status == COMPLETED, t.error
    assert t.text.lower().count("lazy dog") == 4  # each sentence once: none lost or doubled at seams
    starts = [s["start"] for s in t.segments]
    assert starts == sorted(starts) and t.segments[-1]["end"] <= t.duration
    # Each sentence is found on its own time, whichever window it fell in.
    for k in range(4):
        assert any(abs(s["start"] - k * layout.period) < 1.0 for s in t.segments)
    engines._engines.pop("local", None)
