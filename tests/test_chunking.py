"""Planning, cutting and merging long audio: a three-hour file of speech and pauses."""

from __future__ import annotations

import os

import pytest

from transcripts import engines
from transcripts.engines import get_engine
from workers.speech import chunking
from workers.speech.audio import probe
from workers.speech.chunking import REQUEST_LIMIT_BYTES
from workers.speech.engines import TranscribeOptions

from .openai_server import Behaviour, FakeOpenAI, long_speech_opus

THREE_HOURS = 3 * 3600


pytestmark = pytest.mark.slow  # the real engine on longer audio, or a process per test


@pytest.fixture(scope="module")
def three_hours(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "three-hours.ogg"
    layout = long_speech_opus(str(path), THREE_HOURS)
    return str(path), layout


def test_a_three_hour_file_is_planned_into_parts_within_the_limit_cut_at_pauses(three_hours, tmp_path):
    path, layout = three_hours
    duration = probe(path).duration
    assert duration > THREE_HOURS - 10
    spans = chunking.plan(path, duration, 600)
    assert len(spans) == 20  # 90% of the maximum on average, leaving room to find pauses
    assert spans[0].start == 0 and spans[-1].end == duration
    assert all(a.end == b.start for a, b in zip(spans, spans[1:], strict=False))
    assert all(s.duration <= 600 for s in spans)
    for s in spans[1:]:
        assert layout.in_silence(s.start), f"cut at {s.start:.2f} s is inside speech"
    pieces = chunking.cut(path, spans, str(tmp_path))
    assert [p.span for p in pieces] == spans
    for p in pieces:
        assert os.path.getsize(p.path) < REQUEST_LIMIT_BYTES / 10
        assert abs(p.offset - p.span.start) < 0.07
        assert abs(probe(p.path).duration - p.span.duration) < 0.2


def test_the_same_audio_always_gets_the_same_plan(three_hours):
    path, _ = three_hours
    assert chunking.plan(path, 1800, 600) == chunking.plan(path, 1800, 600)


def test_a_three_hour_file_merges_to_one_monotonic_transcript_covering_it_all(
    three_hours, settings, monkeypatch
):
    path, layout = three_hours
    with FakeOpenAI(Behaviour(key="sk-test")) as server:
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_MAX_CONCURRENCY = 4
        monkeypatch.setattr(engines, "_engines", {})
        result = get_engine("openai").transcribe(path, TranscribeOptions(word_timestamps=True))
    assert len(server.seen) == 20 and all(s.status == 200 for s in server.seen)
    assert max(s.size for s in server.seen) < REQUEST_LIMIT_BYTES
    # The server heard every part whole: together they are the whole file.
    assert abs(sum(s.duration for s in server.seen) - result.duration) < 1.0
    segments = result.segments
    # One segment per sentence said, none lost or doubled at the 19 seams, each on its original time.
    assert len(segments) == layout.count
    for k, s in enumerate(segments):
        assert abs(s.start - (k * layout.period + layout.speech_start)) < 0.15, (k, s)
        assert abs(s.end - (k * layout.period + layout.speech_end)) < 0.15, (k, s)
    starts = [s.start for s in segments]
    assert starts == sorted(starts)
    assert all(s.start <= s.end for s in segments)
    words = [w for s in segments for w in s.words]
    assert [w.start for w in words] == sorted(w.start for w in words)
    assert segments[0].start < 0.5
    assert result.duration - segments[-1].end < layout.period
    assert result.timestamps and result.timings["parts"] == 20
