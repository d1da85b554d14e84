"""The REST API under /api/v1/: keys, the error shape, every endpoint, with the real engine."""

from __future__ import annotations

import pytest
from django.test import Client

from transcripts.api.models import ApiKey, hash_key
from transcripts.keys import transcript_key
from transcripts.models import COMPLETED, FAILED, Transcript
from workers.events import route

from .aws_helpers import BUCKET, s3_event
from .conftest import fixture_path, upload_file


def api_client(user, name: str = "tests") -> Client:
    _, key = ApiKey.issue(user, name)
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.fixture
def alice_api(alice) -> Client:
    return api_client(alice)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def make(owner, **fields) -> Transcript:
    defaults = dict(title="Weekly sync", status=COMPLETED, text="hello there", source="web")
    defaults["segments"] = [{"start": 0.0, "end": 1.5, "text": "hello there"}]
    return Transcript.objects.create(owner=owner, **{**defaults, **fields})


@pytest.mark.django_db
def test_a_key_is_stored_as_a_hash_and_named_by_its_prefix(alice):
    row, key = ApiKey.issue(alice, "Open WebUI")
    assert key.startswith(row.prefix + "_") and row.prefix.startswith("mn_")
    assert row.hashed == hash_key(key) and key not in row.hashed
    assert not ApiKey.objects.filter(hashed=key).exists()
    assert ApiKey.objects.authenticate(key) == row


@pytest.mark.django_db
def test_missing_wrong_and_revoked_keys_answer_401_in_the_api_shape(alice):
    row, key = ApiKey.issue(alice)
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer mn_nope_nope"}, {"HTTP_AUTHORIZATION": key}):
        response = Client(**headers).get("/api/v1/transcripts")
        assert_error(response, 401, "unauthorized")
        assert response["WWW-Authenticate"] == "Bearer"
    assert Client(HTTP_AUTHORIZATION=f"Bearer {key}").get("/api/v1/transcripts").status_code == 200
    row.revoke()
    assert_error(Client(HTTP_AUTHORIZATION=f"Bearer {key}").get("/api/v1/transcripts"), 401, "unauthorized")


@pytest.mark.django_db
def test_a_session_alone_does_not_open_the_api(alice_client):
    assert_error(alice_client.get("/api/v1/transcripts"), 401, "unauthorized")


@pytest.mark.django_db
def test_key_authenticated_requests_need_no_csrf_token(alice):
    _, key = ApiKey.issue(alice)
    strict = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {key}")
    response = strict.post("/api/v1/transcripts", {"audio": upload_file("not_audio.mp3")})
    assert_error(response, 400, "invalid")  # reached the form's checks, not a CSRF 403


@pytest.mark.django_db
def test_too_many_requests_answer_429_with_retry_after(alice_api, alice, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    assert [alice_api.get("/api/v1/transcripts").status_code for _ in range(3)] == [200] * 3
    response = alice_api.get("/api/v1/transcripts")
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60
    # The limit is per key: another key of the same user still gets through.
    assert api_client(alice).get("/api/v1/transcripts").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_it_transcribes_an_upload_and_the_transcript_shows_in_the_ui(alice_api, alice_client):
    response = alice_api.post(
        "/api/v1/transcripts",
        {"audio": upload_file("speech.mp3"), "title": "Standup", "word_timestamps": "true"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    t = Transcript.objects.get()
    assert body["id"] == str(t.id) and body["status"] == COMPLETED and t.source == "api"
    assert "fox" in body["text"].lower() and body["language"] == "en" and 6 < body["duration"] < 7
    assert body["segments"][0]["words"][0]["word"].strip()
    assert body["links"]["web"] == f"http://testserver/t/{t.id}/"
    assert body["links"]["self"] == f"http://testserver/api/v1/transcripts/{t.id}/"
    assert body["callback_secret"] is None
    assert "Standup" in alice_client.get("/").content.decode()


@pytest.mark.django_db
def test_bad_uploads_get_the_upload_pages_own_messages(alice_api, alice_client):
    page = alice_client.post("/upload/", {"audio": upload_file("not_audio.mp3")}).context["form"]
    expected = page.errors["audio"][0]
    error = assert_error(
        alice_api.post("/api/v1/transcripts", {"audio": upload_file("not_audio.mp3")}), 400, "invalid"
    )
    assert error["message"] == expected and error["fields"] == {"audio": [expected]}
    error = assert_error(alice_api.post("/api/v1/transcripts", {}), 400, "invalid")
    assert error["message"] == "Choose an audio file, a text transcript, or both."
    error = assert_error(
        alice_api.post("/api/v1/transcripts", {"audio": upload_file("speech.mp3"), "language": "xx"}),
        400,
        "invalid",
    )
    # The configured model's languages and tasks decide (tiny.en: English only, no translation).
    assert error["fields"]["language"] == [
        "The model tiny.en understands English only, so it cannot transcribe 'xx'. "
        "Use a multilingual model (WHISPER_MODEL=base) or choose English."
    ]
    error = assert_error(
        alice_api.post("/api/v1/transcripts", {"audio": upload_file("speech.mp3"), "task": "translate"}),
        400,
        "invalid",
    )
    assert "The model tiny.en cannot translate" in error["message"]
    assert not Transcript.objects.exists()


@pytest.mark.django_db
def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(alice_api, settings):
    settings.MAX_UPLOAD_MB = 0
    # The request says it is 3 MB; the check believes it without reading the body.
    response = alice_api.post(
        "/api/v1/transcripts", {"audio": upload_file("speech.mp3")}, CONTENT_LENGTH=str(3 * 2**20)
    )
    error = assert_error(response, 413, "too_large")
    assert "the limit is 0 MB" in error["message"]


@pytest.mark.django_db
def test_list_pages_filters_by_status_and_searches(alice_api, alice, bob):
    for i in range(5):
        make(alice, title=f"Call {i}", text="budget review" if i % 2 else "roadmap")
    make(alice, title="Broken", status=FAILED, error="not audio", text="")
    make(bob, title="Bob's")
    first = alice_api.get("/api/v1/transcripts", {"per_page": 4}).json()
    assert len(first["items"]) == 4 and first["has_next"] and first["page"] == 1
    second = alice_api.get("/api/v1/transcripts", {"per_page": 4, "page": 2}).json()
    assert len(second["items"]) == 2 and not second["has_next"]
    titles = {i["title"] for i in first["items"] + second["items"]}
    assert "Bob's" not in titles and len(titles) == 6
    failed = alice_api.get("/api/v1/transcripts", {"status": "failed"}).json()["items"]
    assert [(i["title"], i["error"]) for i in failed] == [("Broken", "not audio")]
    found = alice_api.get("/api/v1/transcripts", {"q": "budget"}).json()["items"]
    assert sorted(i["title"] for i in found) == ["Call 1", "Call 3"]
    assert_error(alice_api.get("/api/v1/transcripts", {"status": "done"}), 400, "invalid")
    assert_error(alice_api.get("/api/v1/transcripts", {"per_page": 0}), 400, "invalid")


@pytest.mark.django_db
def test_get_shows_status_progress_error_speakers_and_segments(alice_api, alice):
    segments = [
        {"start": 0.0, "end": 1.0, "text": "Hi.", "speaker": "SPEAKER_1"},
        {"start": 1.0, "end": 2.0, "text": "Hello.", "speaker": "SPEAKER_2"},
    ]
    t = make(alice, segments=segments, language="en", duration=2.0)
    body = alice_api.get(f"/api/v1/transcripts/{t.id}/").json()
    assert (body["status"], body["progress"], body["error"], body["language"], body["duration"]) == (
        COMPLETED,
        0.0,
        "",
        "en",
        2.0,
    )
    assert body["speakers"] == ["SPEAKER_1", "SPEAKER_2"]
    assert [s["speaker"] for s in body["segments"]] == ["SPEAKER_1", "SPEAKER_2"]


@pytest.mark.django_db
def test_someone_elses_transcript_answers_404_to_every_verb(alice_api, bob):
    t = make(bob)
    base = f"/api/v1/transcripts/{t.id}/"
    for response in (
        alice_api.get(base),
        alice_api.patch(base, {"title": "mine"}, content_type="application/json"),
        alice_api.delete(base),
        alice_api.post(base + "retry"),
        alice_api.get(base + "export/txt"),
    ):
        assert_error(response, 404, "not_found")
    t.refresh_from_db()
    assert t.title == "Weekly sync"


@pytest.mark.django_db
def test_unknown_paths_bad_ids_and_wrong_methods_answer_json(alice_api):
    response = alice_api.put("/api/v1/transcripts")
    assert_error(response, 405, "method_not_allowed")
    assert set(response["Allow"].split(", ")) == {"GET", "POST"}
    assert_error(alice_api.get("/api/v1/nothing/here"), 404, "not_found")
    error = assert_error(alice_api.get("/api/v1/transcripts/not-a-uuid/"), 400, "invalid")
    assert list(error["fields"]) == ["transcript_id"]


@pytest.mark.django_db
def test_rename_trims_and_checks_the_title(alice_api, alice):
    t = make(alice)
    url = f"/api/v1/transcripts/{t.id}/"
    response = alice_api.patch(url, {"title": "  Board   meeting "}, content_type="application/json")
    assert response.status_code == 200 and response.json()["title"] == "Board meeting"
    error = assert_error(
        alice_api.patch(url, {"title": "   "}, content_type="application/json"), 400, "invalid"
    )
    assert error["fields"] == {"title": ["Enter a title."]}
    assert_error(alice_api.patch(url, {"title": "x" * 201}, content_type="application/json"), 400, "invalid")
    assert_error(alice_api.patch(url, "{not json", content_type="application/json"), 400, "invalid")
    t.refresh_from_db()
    assert t.title == "Board meeting"


@pytest.mark.django_db(transaction=True)
def test_delete_removes_the_row_and_its_files(alice_api, settings):
    created = alice_api.post("/api/v1/transcripts", {"audio": upload_file("speech.mp3")}).json()
    t = Transcript.objects.get(id=created["id"])
    audio = settings.MEDIA_ROOT / t.audio.name
    assert audio.exists()
    assert alice_api.delete(f"/api/v1/transcripts/{t.id}/").status_code == 204
    assert not Transcript.objects.exists() and not audio.exists()
    assert not (settings.MEDIA_ROOT / f"transcripts/{t.id}.json").exists()


@pytest.mark.django_db(transaction=True)
def test_retry_runs_a_failed_transcript_again_and_refuses_others(alice_api, alice):
    created = alice_api.post("/api/v1/transcripts", {"audio": upload_file("speech.mp3")}).json()
    t = Transcript.objects.get(id=created["id"])
    assert_error(alice_api.post(f"/api/v1/transcripts/{t.id}/retry"), 409, "conflict")
    Transcript.objects.filter(id=t.id).update(status=FAILED, error="The engine stopped.")
    response = alice_api.post(f"/api/v1/transcripts/{t.id}/retry")
    assert response.status_code == 202
    t.refresh_from_db()
    assert t.status == COMPLETED and t.error == ""


@pytest.mark.django_db
def test_export_in_every_format_the_ui_has(alice_api, alice_client, alice):
    from transcripts import exports

    t = make(alice)
    for fmt, content_type in exports.CONTENT_TYPES.items():
        response = alice_api.get(f"/api/v1/transcripts/{t.id}/export/{fmt}")
        assert response.status_code == 200 and response["Content-Type"] == content_type
        assert response.content == alice_client.get(f"/t/{t.id}/export.{fmt}").content
        assert "hello there" in response.content.decode()
    assert_error(alice_api.get(f"/api/v1/transcripts/{t.id}/export/pdf"), 404, "not_found")
    pending = make(alice, status="queued", text="", segments=[])
    assert_error(alice_api.get(f"/api/v1/transcripts/{pending.id}/export/srt"), 409, "conflict")


@pytest.mark.django_db
def test_an_unexpected_failure_is_json_not_a_traceback(alice_api, alice, monkeypatch):
    t = make(alice)
    monkeypatch.setattr("transcripts.api.payloads.speakers_of", lambda segments: 1 / 0)
    response = alice_api.get(f"/api/v1/transcripts/{t.id}/")
    error = assert_error(response, 500, "server_error")
    assert "ZeroDivision" not in response.content.decode() and "Traceback" not in error["message"]


@pytest.mark.django_db
def test_the_openapi_document_and_its_docs_page(alice_api):
    doc = Client().get("/api/v1/openapi.json").json()
    assert doc["info"]["title"] == "Meeting Noter API"
    assert {"/api/v1/transcripts", "/api/v1/transcripts/{transcript_id}/", "/api/v1/uploads"} <= set(
        doc["paths"]
    )
    assert doc["components"]["securitySchemes"]["KeyAuth"]["scheme"] == "bearer"
    docs = Client().get("/api/v1/docs")
    assert docs.status_code == 200 and "/api/v1/openapi.json" in docs.content.decode()
    assert "cdn" not in docs.content.decode().lower()  # Swagger UI comes from our static files


@pytest.mark.django_db(transaction=True)
def test_a_direct_upload_through_the_api(alice_api, s3, counted_engine):
    grant = alice_api.post(
        "/api/v1/uploads", {"name": "Board call.mp3", "size": 25931}, content_type="application/json"
    )
    assert grant.status_code == 200, grant.content
    grant = grant.json()
    s3.put_object(Bucket=BUCKET, Key=grant["key"], Body=fixture_path("speech.mp3").read_bytes())
    done = alice_api.post(
        "/api/v1/uploads/complete",
        {"token": grant["token"], "language": "en"},
        content_type="application/json",
    )
    assert done.status_code == 201, done.content
    body = done.json()
    assert body["title"] == "Board call" and len(counted_engine.calls) == 1
    # On S3 the result's ObjectCreated event completes the row: deliver it as AWS would.
    route(s3_event(transcript_key(body["id"])), None)
    body = alice_api.get(f"/api/v1/transcripts/{body['id']}/").json()
    assert body["status"] == COMPLETED and "fox" in body["text"].lower()
    assert Transcript.objects.get().source == "api"
    again = alice_api.post(
        "/api/v1/uploads/complete", {"token": grant["token"]}, content_type="application/json"
    )
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    forged = alice_api.post("/api/v1/uploads/complete", {"token": "x"}, content_type="application/json")
    assert (
        assert_error(forged, 400, "upload_refused")["message"] == "This upload was not issued by this site."
    )


@pytest.mark.django_db
def test_direct_uploads_need_s3(alice_api):
    response = alice_api.post("/api/v1/uploads", {"name": "a.mp3"}, content_type="application/json")
    assert "S3" in assert_error(response, 404, "not_found")["message"]


@pytest.mark.django_db
def test_null_characters_are_refused_not_a_server_error(alice_api, alice):
    # PostgreSQL cannot store NUL in text; schemathesis found this one.
    t = make(alice)
    response = alice_api.patch(
        f"/api/v1/transcripts/{t.id}/", {"title": "a\x00b"}, content_type="application/json"
    )
    assert assert_error(response, 400, "invalid")["fields"] == {"title": ["Null characters are not allowed."]}
    assert alice_api.get("/api/v1/transcripts", {"q": "hello\x00"}).json()["items"][0]["id"] == str(t.id)
    response = alice_api.post("/api/v1/transcripts", {"audio": upload_file("speech.mp3"), "title": "a\x00"})
    assert assert_error(response, 400, "invalid")["fields"] == {"title": ["Null characters are not allowed."]}
