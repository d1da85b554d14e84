"""What a user of the pages notices, server side (issue 7: 3, 14-16, 20-22, 24)."""

from __future__ import annotations

import json
import logging
import re

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape

from transcripts.imports import MAX_CUES
from transcripts.models import COMPLETED, FAILED, PROCESSING, QUEUED, Transcript

from .conftest import copy_fixture

pytestmark = pytest.mark.django_db


def _meeting(owner, n: int, **fields) -> Transcript:
    segments = [{"start": 2.0 * i, "end": 2.0 * i + 1.5, "text": f"Line {i} said."} for i in range(n)]
    return Transcript.objects.create(
        owner=owner,
        title="Long meeting",
        status=COMPLETED,
        segments=segments,
        text=" ".join(s["text"] for s in segments),
        duration=2.0 * n,
        **fields,
    )


def _srt(n: int) -> bytes:
    return "".join(
        f"{i + 1}\n00:{i // 60 % 60:02d}:{i % 60:02d},000 --> 00:{i // 60 % 60:02d}:{i % 60:02d},500\nCue {i}.\n\n"
        for i in range(n)
    ).encode()


# Item 3: a Content-Security-Policy of script-src 'self' runs no inline code.
def test_no_page_carries_inline_script(alice_client, alice):
    t = _meeting(alice, 3)
    t.segments[0]["words"] = [{"start": 0.0, "end": 0.5, "word": " Line"}]
    t.save()
    queued = Transcript.objects.create(owner=alice, title="q", status=QUEUED)
    for url in ("/", "/upload/", f"/t/{t.id}/", f"/t/{t.id}/edit/", f"/t/{queued.id}/"):
        body = alice_client.get(url).content.decode()
        assert not re.search(r"\son[a-z]+\s*=", body), url  # onsubmit=, onclick=, …
        for tag in re.findall(r"<script\b[^>]*>", body):
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag)


# Item 14: edits of a 1,500-segment transcript are saved, none lost.
def test_edits_to_a_1500_segment_transcript_are_all_saved(alice_client, alice):
    t = _meeting(alice, 1500)
    page = alice_client.get(f"/t/{t.id}/edit/").content.decode()
    assert page.count("<textarea") == 1500
    assert 'name="seg-' not in page  # more fields than Django takes: the script posts JSON
    edits = {"0": "First, fixed.", "749": "Middle, fixed.", "1499": "  Last, fixed.  "}
    response = alice_client.post(f"/t/{t.id}/edit/", {"edits": json.dumps(edits)})
    assert response.status_code == 302
    t.refresh_from_db()
    assert len(t.segments) == 1500 and t.edited
    assert [t.segments[i]["text"] for i in (0, 749, 1499)] == [
        "First, fixed.",
        "Middle, fixed.",
        "Last, fixed.",
    ]
    assert all(t.segments[i]["text"] == f"Line {i} said." for i in range(1500) if i not in (0, 749, 1499))
    assert t.text.startswith("First, fixed. Line 1 said.") and t.text.endswith("Last, fixed.")


def test_a_short_transcript_still_saves_without_javascript(alice_client, alice):
    t = _meeting(alice, 3)
    assert 'name="seg-1"' in alice_client.get(f"/t/{t.id}/edit/").content.decode()
    fields = {"edits": "", "seg-0": "Line 0 said.", "seg-1": "Changed.", "seg-2": "Line 2 said."}
    assert alice_client.post(f"/t/{t.id}/edit/", fields).status_code == 302
    t.refresh_from_db()
    assert [s["text"] for s in t.segments] == ["Line 0 said.", "Changed.", "Line 2 said."]


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ("{not json", "could not be read"),
        ('["a"]', "could not be read"),
        ('{"0": 5}', "could not be read"),
        ('{"3": "x"}', "changed since this page was loaded"),
        ('{"-1": "x"}', "changed since this page was loaded"),
        (json.dumps({"0": "x" * 5001}), "longer than 5,000 characters"),
    ],
)
def test_bad_edits_are_refused_and_change_nothing(alice_client, alice, edits, message):
    t = _meeting(alice, 3)
    response = alice_client.post(f"/t/{t.id}/edit/", {"edits": edits})
    assert response.status_code == 400 and message in response.content.decode()
    t.refresh_from_db()
    assert not t.edited and t.segments[0]["text"] == "Line 0 said."


# Item 15: what an import may hold is bounded, with a clear message.
def test_an_srt_with_too_many_cues_is_refused_clearly(post_upload):
    response = post_upload({"transcript": SimpleUploadedFile("huge.srt", _srt(MAX_CUES + 1))})
    assert response.status_code == 400
    assert "more than 10,000 captions" in response.content.decode()
    assert not Transcript.objects.exists()
    response = post_upload({"transcript": SimpleUploadedFile("ok.srt", _srt(3000))})
    assert response.status_code == 302 and len(Transcript.objects.get().segments) == 3000


def test_a_text_file_over_the_size_limit_is_refused_clearly(post_upload):
    response = post_upload({"transcript": SimpleUploadedFile("big.txt", b"word " * (2 * 2**20 // 5 + 10))})
    assert response.status_code == 400
    assert "the most we import is 2 MB" in response.content.decode()


# Item 16: UTF-16 subtitles import; errors name the cue and never echo the file.
SRT = "1\n00:00:01,000 --> 00:00:02,500\nHello thére.\n\n2\n00:00:03,000 --> 00:00:04,000\nGeneral Kenobi.\n"
VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello thére.\n\n00:03.000 --> 00:04.000\nGeneral Kenobi.\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize(("name", "body"), [("talk.srt", SRT), ("talk.vtt", VTT)])
def test_utf16_subtitles_are_imported(post_upload, name, body, encoding):
    data = body.replace("\n", "\r\n").encode(encoding)
    response = post_upload({"transcript": SimpleUploadedFile(name, data)})
    assert response.status_code == 302, response.content.decode()[-2000:]
    t = Transcript.objects.get()
    assert [(s["start"], s["end"], s["text"]) for s in t.segments] == [
        (1.0, 2.5, "Hello thére."),
        (3.0, 4.0, "General Kenobi."),
    ]


GOOD_SRT_CUE = "1\n00:00:01,000 --> 00:00:02,000\nFine.\n\n"
GOOD_VTT_CUE = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nFine.\n\n"


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        (
            "a.srt",
            GOOD_SRT_CUE + "2\n00:00:0x,000 --> 00:00:03,000\n<b>SECRET</b>\n",
            "Cue 2 (line 5): its timing line is not two times like 00:00:01,000 --> 00:00:04,000.",
        ),
        (
            "a.srt",
            GOOD_SRT_CUE + "<script>SECRET</script>\n",
            "Cue 2 (line 5) has no timing line: each cue needs a line like 00:00:01,000 --> 00:00:04,000.",
        ),
        (
            "a.srt",
            GOOD_SRT_CUE + "2\n00:00:05,000 --> 00:00:03,000\nSECRET\n",
            "Cue 2 (line 5) ends before it starts.",
        ),
        (
            "a.vtt",
            GOOD_VTT_CUE + "00:00:0x.000 --> 00:00:03.000\nSECRET\n",
            "Cue 2 (line 6): its timing line is not two times like 00:00:01.000 --> 00:00:04.000.",
        ),
        (
            "a.vtt",
            "SECRET\n\n00:00:01.000 --> 00:00:02.000\nHi\n",
            "A WebVTT file must start with the line WEBVTT.",
        ),
    ],
)
def test_a_broken_subtitle_file_says_which_cue_and_what_is_wrong(post_upload, name, body, message):
    response = post_upload({"transcript": SimpleUploadedFile(name, body.encode())})
    page = response.content.decode()
    assert response.status_code == 400 and escape(message) in page
    assert "SECRET" not in page and "unmatched content" not in page
    assert not Transcript.objects.exists()


# Item 20: the empty-upload error once; a subtitle in the Audio field points to the right one.
def test_an_empty_upload_says_so_once(alice_client):
    page = alice_client.post(
        "/upload/", {"title": "", "language": ""}
    ).content.decode()  # as a browser sends it
    assert page.count("Choose an audio file, a text transcript, or both.") == 1


def test_a_subtitle_file_in_the_audio_field_suggests_the_text_field(post_upload):
    response = post_upload({"audio": SimpleUploadedFile("talk.srt", SRT.encode())})
    page = response.content.decode()
    assert response.status_code == 400
    assert "in the Text transcript field" in page and "no audio track" not in page
    assert not Transcript.objects.exists()


def test_file_inputs_have_their_help_text_under_them(alice_client):
    page = alice_client.get("/upload/").content.decode()
    zone = page.index('class="dropzone"')
    assert page.index('type="file" name="audio"') > zone
    assert page.index('id="id_audio_helptext"') > page.index('type="file" name="audio"')
    assert 'aria-describedby="id_audio_helptext"' in page


# Item 21: without JavaScript the page refreshes while work is under way.
def test_the_detail_page_refreshes_itself_without_script_while_active(alice_client, alice):
    t = Transcript.objects.create(owner=alice, title="q", status=PROCESSING)
    page = alice_client.get(f"/t/{t.id}/").content.decode()
    assert re.search(r'<noscript><meta http-equiv="refresh" content="\d+"></noscript>', page)
    assert page.index("<noscript><meta") < page.index("</head>")
    done = _meeting(alice, 1)
    assert 'http-equiv="refresh"' not in alice_client.get(f"/t/{done.id}/").content.decode()


# Item 22: polls are not logged; failures are, with their reason.
def test_polls_write_no_access_log_line_but_failures_are_logged(alice_client, alice, caplog, settings):
    assert settings.LOGGING["loggers"]["django.server"]["level"] == "WARNING"
    assert not logging.getLogger("django.server").isEnabledFor(logging.INFO)  # 200s of polls
    assert logging.getLogger("django.server").isEnabledFor(logging.WARNING)  # 4xx, 5xx
    copy_fixture("not_audio.mp3", settings.MEDIA_ROOT / "audio/x/not_audio.mp3")
    t = Transcript.objects.create(owner=alice, title="x", status=FAILED, audio="audio/x/not_audio.mp3")
    with caplog.at_level(logging.INFO):
        alice_client.post(f"/t/{t.id}/retry/")  # runs inline, and fails again
    t.refresh_from_db()
    assert t.status == FAILED and t.error
    assert any(r.levelno == logging.WARNING and t.error in r.getMessage() for r in caplog.records)


# Item 24: rename, search by all words, admin durations.
def test_a_transcript_can_be_renamed(alice_client, alice, bob):
    t = _meeting(alice, 1)
    response = alice_client.post(f"/t/{t.id}/rename/", {"title": "  Board   meeting, March "}, follow=True)
    t.refresh_from_db()
    assert t.title == "Board meeting, March"
    assert '<h1 id="title">Board meeting, March</h1>' in response.content.decode()
    alice_client.post(f"/t/{t.id}/rename/", {"title": "   "})
    t.refresh_from_db()
    assert t.title == "Board meeting, March"
    assert alice_client.get(f"/t/{t.id}/").status_code == 200
    other = _meeting(bob, 1)
    assert alice_client.post(f"/t/{other.id}/rename/", {"title": "mine"}).status_code == 404
    other.refresh_from_db()
    assert other.title == "Long meeting"


def test_list_search_matches_all_words_in_any_order(alice_client, alice):
    Transcript.objects.create(
        owner=alice, title="Speech", status=COMPLETED, text="Ask what you can do for your country, Americans."
    )
    Transcript.objects.create(owner=alice, title="Other", status=COMPLETED, text="Americans abroad.")
    Transcript.objects.create(owner=alice, title="Country music", status=COMPLETED, text="Songs.")
    page = alice_client.get("/?q=Americans+country").content.decode()
    assert ">Speech<" in page and ">Other<" not in page and ">Country music<" not in page
    page = alice_client.get("/?q=music+COUNTRY").content.decode()  # title and text, any case
    assert ">Country music<" in page and ">Speech<" not in page
    assert "Nothing matches" in alice_client.get("/?q=Americans+music").content.decode()


def test_admin_shows_durations_as_clock_times(client, alice):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-for-admin-1"))
    t = Transcript.objects.create(owner=alice, title="long", status=COMPLETED, duration=3725.4)
    Transcript.objects.create(owner=alice, title="short", status=COMPLETED, duration=65.0)
    body = client.get("/admin/transcripts/transcript/").content.decode()
    assert "1:02:05" in body and "1:05" in body and "3725.4" not in body
    assert "1:02:05" in client.get(f"/admin/transcripts/transcript/{t.id}/change/").content.decode()


def test_the_detail_page_carries_word_timings_as_data(alice_client, alice):
    t = _meeting(alice, 2, word_timestamps=True)
    t.segments[1]["words"] = [{"start": 2.0, "end": 2.4, "word": " Line", "probability": 0.9}]
    t.segments[0]["words"] = [{"start": 0.0, "end": 0.4, "word": " </script><img src=x>&"}]
    t.save()
    page = alice_client.get(f"/t/{t.id}/").content.decode()
    assert "<img src=x>" not in page and page.count("</script>") == page.count("<script")
    data = json.loads(re.search(r'<script id="words" type="application/json">(.*?)</script>', page).group(1))
    assert data == [
        [0, [{"start": 0.0, "end": 0.4, "word": " </script><img src=x>&"}]],
        [1, [{"start": 2.0, "end": 2.4, "word": " Line", "probability": 0.9}]],
    ]
