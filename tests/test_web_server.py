"""The product as `make run` serves it: scripts/serve (gunicorn, one process,
threads, DEBUG off) on a free port with its own data directory, driven over
real sockets, and by Chromium for the hostile-audio case."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from . import test_web_security as hostile
from .conftest import fixture_path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "quiet lantern 4417"
UPLOADS = 50


@dataclass
class Product:
    url: str
    data_dir: Path
    port: int

    def rows(self) -> int:
        with sqlite3.connect(self.data_dir / "db.sqlite3") as db:
            return db.execute("select count(*) from transcripts_transcript").fetchone()[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def product(tmp_path_factory) -> Iterator[Product]:
    data_dir = tmp_path_factory.mktemp("product")
    port = _free_port()
    drop = ("DEBUG", "SECRET_KEY", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "TRANSCRIPTS_BUCKET")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        DATA_DIR=str(data_dir),
        HOST=f"127.0.0.1:{port}",
        PY=sys.executable,
        MAX_UPLOAD_MB="5",
        # Transcription is not under test: an engine that fails at once keeps the CPU free.
        TRANSCRIBE_ENGINE="openai",
        OPENAI_API_KEY="unused",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        OPENAI_MAX_RETRIES="0",
    )
    log = (data_dir / "server.log").open("w")
    server = subprocess.Popen(
        [str(ROOT / "scripts" / "serve")], cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(f"{url}/accounts/login/", timeout=10)
                break
            except requests.RequestException:
                assert server.poll() is None, (data_dir / "server.log").read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        make_user = f"from django.contrib.auth.models import User; User.objects.create_user('ann', password='{PASSWORD}')"
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-v", "0", "-c", make_user], cwd=ROOT, env=env, check=True
        )
        yield Product(url, data_dir, port)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=45)  # gunicorn's graceful timeout is 30 s
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def ann(product) -> requests.Session:
    s = requests.Session()
    s.get(f"{product.url}/accounts/login/")
    r = s.post(
        f"{product.url}/accounts/login/",
        data={"username": "ann", "password": PASSWORD, "csrfmiddlewaretoken": s.cookies["csrftoken"]},
        allow_redirects=False,
    )
    assert r.status_code == 302, r.text[:300]
    return s


def _upload(session: requests.Session, url: str, name: str, body: bytes) -> requests.Response:
    return session.post(
        f"{url}/upload/",
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        files={"audio": (name, body)},
        allow_redirects=False,
        timeout=300,
    )


def test_fifty_simultaneous_uploads_are_all_answered_and_stored(product, ann):
    before = product.rows()
    audio = fixture_path("speech.mp3").read_bytes()
    start = threading.Barrier(UPLOADS)
    answers: list = [None] * UPLOADS

    def one(i: int) -> None:
        s = requests.Session()
        s.cookies.update(ann.cookies)
        start.wait()
        try:
            answers[i] = _upload(s, product.url, f"meeting {i}.mp3", audio).status_code
        except requests.RequestException as exc:  # a dropped connection
            answers[i] = repr(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(UPLOADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [302] * UPLOADS
    assert product.rows() - before == UPLOADS


def test_a_404_page_lists_no_url_patterns(product):
    r = requests.get(f"{product.url}/no/such/page/")
    assert r.status_code == 404
    assert "URLconf" not in r.text and "admin/" not in r.text and "upload/" not in r.text
    assert "Traceback" not in r.text


def test_static_files_come_from_whitenoise(product):
    r = requests.get(f"{product.url}/static/transcripts/app.js")
    assert r.status_code == 200 and "javascript" in r.headers["Content-Type"]


def test_a_200_mb_declared_upload_is_refused_before_its_body_is_sent(product, ann):
    cookie = "; ".join(f"{k}={v}" for k, v in ann.cookies.items())
    head = (
        "POST /upload/ HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{product.port}\r\n"
        f"Cookie: {cookie}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {200 * 2**20}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", product.port), timeout=30) as s:
        s.sendall(head.encode())  # and not one byte of the body
        answer = s.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413")
    assert "too large (200 MB); the limit is 5 MB" in answer


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.browser
def test_chromium_does_not_run_a_script_hidden_in_uploaded_audio(product, ann):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/system-deps.sh")
    evil = hostile.evil_mp3()
    r = _upload(ann, product.url, "evil.html", evil)
    assert r.status_code == 302, r.text[:300]
    audio_url = product.url + re.sub(r"/$", "/audio/", r.headers["Location"])
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox"])
        context = browser.new_context()
        context.add_cookies(
            [{"name": k, "value": v, "domain": "127.0.0.1", "path": "/"} for k, v in ann.cookies.items()]
        )
        page = context.new_page()
        # The detector works: the same bytes, read as HTML, do run.
        page.set_content(evil.decode("latin-1"))
        assert page.evaluate("window.pwned") == 1
        response = page.goto(audio_url)
        assert response.status == 200 and response.headers["content-type"] == "audio/mpeg"
        assert page.evaluate("window.pwned") is None and page.title() != "pwned"
        # And on the site's own pages the policy refuses injected inline script.
        page.goto(f"{product.url}/")
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.injected = 1'; document.body.append(s); }"
        )
        assert page.evaluate("window.injected") is None
        browser.close()
