"""The main UI path in a real browser: Playwright driving Debian's Chromium
against pytest-django's live server, with transcription on the background
thread runner exactly as `make run` serves it."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import PASSWORD, fixture_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_up(page, username: str) -> None:
    page.goto("/")
    assert "/accounts/login/" in page.url  # every page but sign-in/up needs login
    page.get_by_role("link", name="Create one").click()
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/")
    assert f"Sign out {username}" in page.inner_text("header")


def _upload(page, name: str) -> None:
    page.get_by_role("link", name="Upload", exact=True).click()
    page.set_input_files("#id_audio", str(fixture_path(name)))
    page.get_by_role("button", name="Upload and transcribe").click()


def test_it_signs_up_uploads_and_plays_back_a_transcript(page, tmp_path: Path):
    _sign_up(page, "carol")
    _upload(page, "speech.mp3")
    page.wait_for_url("**/t/*/")
    detail_url = page.url
    assert page.locator("#transcript").get_attribute("data-status") in ("queued", "processing", "completed")

    # The page polls the status and reloads itself; nobody touches it here.
    page.wait_for_selector("#segments .segment", timeout=90_000)
    assert page.url == detail_url
    assert page.locator("#status").inner_text() == "Completed"
    text = page.locator("#segments").inner_text().lower()
    assert "fox" in text and "monday" in text

    # Seek: prefer a segment that starts after 0; park the player well away
    # from the target first, so that the click has to move it.
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    segments = page.locator(".segment")
    starts = [float(segments.nth(i).get_attribute("data-start")) for i in range(segments.count())]
    index = next((i for i, s in enumerate(starts) if s > 0), 0)
    target = starts[index]
    page.evaluate(
        """(target) => {
            const p = document.getElementById('player');
            p.currentTime = target >= 3 ? 0 : Math.min(target + 4, p.duration - 0.5);
            window.__played = false;
            p.addEventListener('play', () => { window.__played = true; });
        }""",
        target,
    )
    parked = page.evaluate("document.getElementById('player').currentTime")
    assert abs(parked - target) >= 2, (parked, target)
    segments.nth(index).click()
    page.wait_for_function("window.__played === true")
    current = page.evaluate("document.getElementById('player').currentTime")
    # Playback may already have moved on a little from the segment's start.
    assert target - 0.05 <= current <= target + 1.5, (starts, index, current)

    # Exports download with the page's session.
    txt_href = page.get_by_role("link", name="TXT").get_attribute("href")
    response = page.request.get(txt_href)
    assert response.ok and "attachment" in response.headers["content-disposition"]
    assert "fox" in response.text().lower()
    for fmt in ("SRT", "VTT", "JSON"):
        assert page.request.get(page.get_by_role("link", name=fmt).get_attribute("href")).ok

    screenshot = tmp_path / "detail.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"detail page screenshot: {screenshot}")


def test_it_shows_a_clear_error_for_a_file_that_is_not_audio(page, tmp_path: Path):
    _sign_up(page, "dave")
    _upload(page, "not_audio.mp3")
    error = page.locator("form .errorlist").first
    assert "not audio or video we can read" in error.inner_text()
    assert page.url.endswith("/upload/")
    page.screenshot(path=str(tmp_path / "upload-error.png"), full_page=True)
    page.goto("/")
    assert "No transcripts yet" in page.inner_text("main")
