"""The pages as a person uses them, in Chromium (issue 7: 14, 18, 19, 21-24)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from transcripts.models import COMPLETED, PROCESSING, QUEUED, Transcript

from .conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, copy_fixture, fixture_path
from .test_browser import _sign_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("UI_SCREENSHOTS", "/tmp/ui-screenshots"))


def _owner(username: str = "erin") -> User:
    return User.objects.get(username=username)


def _segments(n: int) -> list[dict]:
    return [{"start": 2.0 * i, "end": 2.0 * i + 1.5, "text": f"Line {i} about the budget."} for i in range(n)]


def _completed(owner: User, segments: list[dict], **fields) -> Transcript:
    return Transcript.objects.create(
        owner=owner,
        title=fields.pop("title", "Weekly meeting"),
        status=COMPLETED,
        segments=segments,
        text=" ".join(s["text"] for s in segments),
        duration=segments[-1]["end"] if segments else 0,
        **fields,
    )


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_find_in_transcript_hides_other_segments_and_says_when_nothing_matches(page):
    _sign_up(page, "erin")
    segments = _segments(4)
    segments[2]["text"] = "The quarterly forecast is late."
    t = _completed(_owner(), segments)
    page.goto(f"/t/{t.id}/")
    page.fill("#find", "forecast")
    visible = page.locator(".segment:visible")
    assert visible.count() == 1 and "forecast" in visible.inner_text()
    assert page.locator("#find-none").is_hidden()
    page.fill("#find", "zebra")
    assert page.locator(".segment:visible").count() == 0
    assert page.locator("#find-none").inner_text() == "No segment contains “zebra”."
    page.fill("#find", "")
    assert page.locator(".segment:visible").count() == 4 and page.locator("#find-none").is_hidden()


def test_the_badge_follows_the_state_and_polling_stops_when_the_session_expires(page):
    _sign_up(page, "erin")
    t = Transcript.objects.create(owner=_owner(), title="Live", status=QUEUED)
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "/status/" in r.url else None)
    page.goto(f"/t/{t.id}/")
    assert page.locator("#status").inner_text() == "Queued"
    Transcript.objects.filter(id=t.id).update(status=PROCESSING, progress=0.12)
    page.wait_for_function("document.getElementById('status').textContent === 'Processing'")
    assert "processing" in page.locator("#status").get_attribute("class")
    page.wait_for_function("document.getElementById('progress-text').textContent.includes('12%')")

    page.context.clear_cookies()  # the session expires: the status URL now answers the sign-in page
    note = page.locator("#poll-note")
    note.wait_for(state="visible", timeout=10_000)
    assert "session has expired" in note.inner_text()
    seen = len(polls)
    page.wait_for_timeout(4_000)  # more than two poll intervals
    assert len(polls) == seen


def test_words_are_highlighted_as_they_are_spoken(page, settings):
    _sign_up(page, "erin")
    copy_fixture("speech.mp3", settings.MEDIA_ROOT / "audio/w/speech.mp3")
    words = [[0.0, 0.6, " The"], [0.6, 1.2, " quick"], [1.2, 1.9, " brown"], [1.9, 2.6, " fox"]]
    segments = [
        {"start": 0.0, "end": 2.6, "text": "The quick brown fox", "words": []},
        {
            "start": 2.6,
            "end": 4.0,
            "text": "jumps.",
            "words": [{"start": 2.6, "end": 4.0, "word": " jumps."}],
        },
    ]
    segments[0]["words"] = [{"start": s, "end": e, "word": w, "probability": 0.9} for s, e, w in words]
    t = _completed(_owner(), segments, audio="audio/w/speech.mp3", word_timestamps=True)
    page.goto(f"/t/{t.id}/")
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    assert page.locator(".segment").first.inner_text().endswith("The quick brown fox")
    page.evaluate("document.getElementById('player').currentTime = 1.5")
    page.wait_for_function("document.querySelector('.word.spoken')?.textContent === ' brown'")
    assert page.locator(".segment.playing .word.spoken").count() == 1
    page.evaluate("document.getElementById('player').currentTime = 3.0")
    page.wait_for_function("document.querySelector('.word.spoken')?.textContent === ' jumps.'")
    assert page.locator(".word.spoken").count() == 1


def test_a_1500_segment_transcript_is_edited_in_the_browser(page):
    _sign_up(page, "erin")
    t = _completed(_owner(), _segments(1500))
    page.goto(f"/t/{t.id}/edit/")
    page.fill("#seg-3", "Third, fixed.")
    page.fill("#seg-1499", "The very last line, fixed.")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"**/t/{t.id}/")
    assert "Transcript saved." in page.inner_text("main")
    t.refresh_from_db()
    assert (
        t.segments[3]["text"] == "Third, fixed." and t.segments[1499]["text"] == "The very last line, fixed."
    )
    assert sum(s["text"].endswith("about the budget.") for s in t.segments) == 1498


def test_a_transcript_is_renamed_from_its_page(page):
    _sign_up(page, "erin")
    t = _completed(_owner(), _segments(2))
    page.goto(f"/t/{t.id}/")
    page.get_by_text("Rename").click()
    page.fill("#id_title", "Board meeting, March")
    page.get_by_role("button", name="Save title").click()
    page.wait_for_selector("text=Renamed to")
    assert page.locator("h1").inner_text() == "Board meeting, March"
    page.goto("/")
    assert "Board meeting, March" in page.inner_text("table")


def test_at_375_px_nothing_overflows_and_header_items_do_not_touch(page):
    page.set_viewport_size({"width": 375, "height": 740})
    _sign_up(page, "erin-with-a-long-name")
    owner = _owner("erin-with-a-long-name")
    for i in range(5):
        _completed(owner, _segments(3), title=f"Quarterly planning meeting with the Berlin office, part {i}")
    for path in ("/", "/upload/"):
        page.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (path, overflow)
        boxes = [
            page.locator(sel).bounding_box()
            for sel in (
                "header .brand",
                "header nav a >> nth=0",
                "header nav a >> nth=1",
                "header nav button",
            )
        ]
        for i, a in enumerate(boxes):
            assert a["x"] >= 0 and a["x"] + a["width"] <= 375
            for b in boxes[i + 1 :]:
                apart_x = a["x"] + a["width"] + 4 <= b["x"] or b["x"] + b["width"] + 4 <= a["x"]
                apart_y = a["y"] + a["height"] + 4 <= b["y"] or b["y"] + b["height"] + 4 <= a["y"]
                assert apart_x or apart_y, (path, a, b)
        _shot(page, f"375{path.strip('/').replace('/', '-') or '-list'}")
    t = Transcript.objects.filter(owner=owner).first()
    page.goto(f"/t/{t.id}/")
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    _shot(page, "375-detail")


def test_a_dropped_file_is_uploaded_with_progress(page):
    _sign_up(page, "erin")
    page.goto("/upload/")
    srt = "1\n00:00:01,000 --> 00:00:02,500\nDropped in.\n"
    # A drop as a person makes it: a DataTransfer holding a file, on the text field's zone.
    page.evaluate(
        """(srt) => {
            const zone = document.getElementById('id_transcript').closest('.dropzone');
            const data = new DataTransfer();
            data.items.add(new File([srt], 'dropped.srt', { type: 'application/x-subrip' }));
            for (const type of ['dragenter', 'dragover', 'drop']) {
                zone.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
            }
        }""",
        srt,
    )
    assert page.evaluate("document.getElementById('id_transcript').files[0].name") == "dropped.srt"
    _shot(page, "upload-dropped")
    with page.expect_request(lambda r: r.url.endswith("/upload/") and r.resource_type == "xhr"):
        page.get_by_role("button", name="Upload and transcribe").click()
    page.wait_for_url("**/t/*/")
    assert "Dropped in." in page.inner_text("#segments")
    t = Transcript.objects.get()
    assert t.title == "dropped" and t.source == "import"


def test_an_upload_shows_its_progress_and_errors_come_back_into_the_page(page):
    _sign_up(page, "erin")
    page.goto("/upload/")
    # What the progress line says, kept across the page change in sessionStorage.
    page.evaluate(
        """() => new MutationObserver(() => {
            const box = document.getElementById('upload-progress');
            if (!box || box.hidden) return;
            const seen = JSON.parse(sessionStorage.getItem('seen') || '[]');
            seen.push(box.querySelector('[role=status]').textContent);
            sessionStorage.setItem('seen', JSON.stringify(seen));
        }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true })"""
    )
    noise = {
        "name": "big.mp3",
        "mimeType": "audio/mpeg",
        "buffer": b"not audio " * (8 * 2**20 // 10) + b"1234",
    }
    page.set_input_files("#id_audio", files=[noise])
    page.get_by_role("button", name="Upload and transcribe").click()
    page.wait_for_selector("form .errorlist")
    assert "audio" in page.inner_text("form .errorlist")  # the form's own verdict, shown in place
    assert page.url.endswith("/upload/") and not Transcript.objects.exists()
    seen = page.evaluate("JSON.parse(sessionStorage.getItem('seen') || '[]')")
    assert any(line.startswith("Uploading… ") and line.endswith("% of 8.0 MB") for line in seen), seen
    # The page that came back works as the first did: a second try goes through.
    page.set_input_files("#id_transcript", str(fixture_path("speech.txt")))
    page.get_by_role("button", name="Upload and transcribe").click()
    page.wait_for_url("**/t/*/")
    assert Transcript.objects.get().source == "import"


def test_without_javascript_the_detail_page_refreshes_until_done(live_server, local_worker, monkeypatch):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    User.objects.create_user("nojs", password=PASSWORD)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("#id_username", "nojs")
        page.fill("#id_password", PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
        page.goto("/upload/")
        page.set_input_files("#id_audio", str(fixture_path("speech.mp3")))
        page.get_by_role("button", name="Upload and transcribe").click()
        page.wait_for_url("**/t/*/")
        page.wait_for_selector("#segments .segment", timeout=120_000)  # nobody reloads it
        assert page.locator("#status").inner_text() == "Completed"
        context.close()
        browser.close()


def test_delete_asks_first_from_app_js(page):
    _sign_up(page, "erin")
    t = _completed(_owner(), _segments(2))
    page.goto(f"/t/{t.id}/")
    page.once("dialog", lambda d: d.dismiss())
    page.get_by_role("button", name="Delete transcript and audio").click()
    page.wait_for_timeout(500)
    assert Transcript.objects.filter(id=t.id).exists() and page.url.endswith(f"/t/{t.id}/")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete transcript and audio").click()
    page.wait_for_selector("text=Deleted")
    assert not Transcript.objects.filter(id=t.id).exists()
