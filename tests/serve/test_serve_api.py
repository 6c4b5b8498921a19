"""The service's HTTP contract, in process (FastAPI's TestClient runs the app's lifespan:
the batcher, the warm-up): answers, each bad input, the API key, errors, metrics."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from resume_ner.config.schema import ServeConfig
from resume_ner.predictor import Predictor
from resume_ner.serve.app import Served, create_app, max_body_bytes

RESUME = (
    "Vikas Singh\nChandigarh\nSenior Software Engineer at INFOSYS since 2019.\n\n"
    "Skills: Python, SQL, Machine Learning\nEducation: MBA, Delhi University\n"
)


@pytest.fixture(scope="module")
def predictor(tiny_package) -> Predictor:
    """The fp32 model: int8's dynamic quantization scales activations per forward, so its
    spans may move with what shares the batch; fp32's are the same in any batch."""
    return Predictor(tiny_package, onnx_model="fp32", threads=1)


def make_client(predictor, api_key=None, **settings) -> TestClient:
    served = Served(predictor, name="tiny", version="3", precision="fp32", source_run="run-tiny")
    app = create_app(
        served, ServeConfig(**{"name": "test", "batch_wait_ms": 1.0, **settings}), api_key
    )
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(predictor):
    with make_client(predictor, max_chars=5000, max_texts=4) as client:
        yield client


def expected(predictor, text):
    return [(s.label, s.start, s.end) for s in predictor.predict([text])[0]]


def test_extract_answers_what_the_predictor_predicts(client, predictor):
    response = client.post("/v1/extract", json={"text": RESUME})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == {"name": "tiny", "version": "3", "precision": "fp32"}
    got = [(e["label"], e["start"], e["end"]) for e in body["entities"]]
    assert got == expected(predictor, RESUME)
    assert got, "the tiny tagger predicts spans on this text"
    for entity in body["entities"]:
        assert RESUME[entity["start"] : entity["end"]] == entity["text"]
        assert 0.0 <= entity["score"] <= 1.0


def test_a_long_resume_is_processed_whole(client, predictor):
    text = "\n".join(f"Line {k}: Vikas Singh, Python and SQL at INFOSYS" for k in range(90))
    _, windows = predictor.encode([text])
    assert len(windows) > 20  # far past one window of 32 tokens
    body = client.post("/v1/extract", json={"text": text}).json()
    got = [(e["label"], e["start"], e["end"]) for e in body["entities"]]
    assert got == expected(predictor, text)
    assert max(e["end"] for e in body["entities"]) > len(text) * 0.9  # the end was read


def test_the_text_is_read_exactly_as_sent(client, predictor):
    text = "Vikas  Singh\r\n\tPython\u00a0SQL\n\n\nINFOSYS é 🚀 Delhi"
    body = client.post("/v1/extract", json={"text": text}).json()
    for entity in body["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
    assert [(e["label"], e["start"], e["end"]) for e in body["entities"]] == expected(
        predictor, text
    )


def test_a_batch_answers_each_text_in_order(client):
    texts = [RESUME, "Skills: Python", RESUME.upper()]
    body = client.post("/v1/extract/batch", json={"texts": texts}).json()
    singles = [client.post("/v1/extract", json={"text": t}).json()["entities"] for t in texts]
    assert [r["entities"] for r in body["results"]] == singles


@pytest.mark.parametrize(
    ("path", "payload", "status", "code"),
    [
        ("/v1/extract", {"text": "x" * 5001}, 413, "text_too_long"),
        ("/v1/extract", {"text": ""}, 422, "empty_text"),
        ("/v1/extract", {"text": " \n\t "}, 422, "empty_text"),
        ("/v1/extract", {"txt": "a"}, 422, "invalid_request"),
        ("/v1/extract", {"text": 7}, 422, "invalid_request"),
        ("/v1/extract", {"text": "a", "extra": 1}, 422, "invalid_request"),
        ("/v1/extract/batch", {"texts": []}, 422, "no_texts"),
        ("/v1/extract/batch", {"texts": ["a"] * 5}, 422, "too_many_texts"),
        ("/v1/extract/batch", {"texts": ["a", "x" * 5001]}, 413, "text_too_long"),
        ("/v1/extract/batch", {"texts": ["a", ""]}, 422, "empty_text"),
    ],
)
def test_bad_input_gets_a_clear_answer(client, path, payload, status, code):
    response = client.post(path, json=payload)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["X-Request-ID"]
    if code in ("text_too_long", "too_many_texts"):
        assert ("serve.max_chars" in error["message"]) or ("serve.max_texts" in error["message"])


@pytest.mark.parametrize(
    ("body", "status"),
    [(b'{"text": "abc"', 400), (b'{"text": "\xff\xfe"}', 400), (b"not json", 400)],
)
def test_malformed_bodies_are_400(client, body, status):
    response = client.post(
        "/v1/extract", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_json" and "not valid JSON in UTF-8" in error["message"]


def test_a_body_over_the_limit_is_413_before_it_is_read(client):
    limit = max_body_bytes(ServeConfig(name="test", max_chars=5000, max_texts=4))
    response = client.post(
        "/v1/extract", content=b"x" * (limit + 1), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_the_api_key_guards_v1_only(predictor):
    with make_client(predictor, api_key="s3cret") as client:
        assert client.post("/v1/extract", json={"text": "a b"}).status_code == 401
        wrong = client.post("/v1/extract", json={"text": "a b"}, headers={"X-API-Key": "s3cre"})
        assert wrong.status_code == 401
        assert "X-API-Key" in wrong.json()["error"]["message"]
        assert client.get("/v1/model").status_code == 401
        ok = client.post("/v1/extract", json={"text": "a b"}, headers={"X-API-Key": "s3cret"})
        assert ok.status_code == 200
        for path in ("/health", "/ready", "/metrics", "/openapi.json", "/"):
            assert client.get(path).status_code == 200, path


def test_health_ready_model_and_docs(client, predictor):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}
    info = client.get("/v1/model").json()
    assert info["labels"] == predictor.labels
    assert info["precision"] == "fp32"
    assert info["source_run"] == "run-tiny"
    assert info["limits"] == {"max_chars": 5000, "max_texts": 4}
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/extract", "/v1/extract/batch", "/v1/model", "/health", "/ready"} <= set(paths)
    assert client.get("/docs").status_code == 200


def test_metrics_count_requests_batches_and_characters(client):
    client.post("/v1/extract", json={"text": RESUME})
    text = client.get("/metrics").text
    assert 'resume_ner_requests_total{method="POST",route="/v1/extract",status="200"}' in text
    assert "resume_ner_request_seconds_bucket" in text
    assert "resume_ner_batch_windows_count" in text
    assert "resume_ner_characters_total" in text
    assert "resume_ner_windows_queued" in text


def test_an_unexpected_error_is_500_with_a_request_id_and_the_service_goes_on(
    predictor, monkeypatch, caplog
):
    with make_client(predictor) as client:
        real = predictor.decode

        def broken(*args, **kwargs):
            raise RuntimeError("decoder bug")

        monkeypatch.setattr(predictor, "decode", broken)
        response = client.post("/v1/extract", json={"text": "Vikas Singh"})
        assert response.status_code == 500
        error = response.json()["error"]
        assert error["code"] == "internal_error"
        assert error["request_id"] == response.headers["X-Request-ID"]
        assert "decoder bug" in caplog.text and error["request_id"] in caplog.text
        monkeypatch.setattr(predictor, "decode", real)
        assert client.post("/v1/extract", json={"text": "Vikas Singh"}).status_code == 200


def test_access_log_lines_are_json(client, caplog):
    caplog.set_level("INFO", logger="resume_ner.serve.access")
    client.post("/v1/extract", json={"text": "Vikas Singh"}, headers={"X-Request-ID": "abc-1"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name.endswith("access")]
    line = next(x for x in lines if x["request_id"] == "abc-1")
    assert (line["method"], line["route"], line["status"]) == ("POST", "/v1/extract", 200)
    assert line["ms"] >= 0


def test_cors_is_off_unless_origins_are_given(predictor):
    with make_client(predictor) as client:
        response = client.options(
            "/v1/extract",
            headers={"Origin": "https://ats.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in response.headers
    with make_client(predictor, cors_origins=("https://ats.example",)) as client:
        response = client.options(
            "/v1/extract",
            headers={"Origin": "https://ats.example", "Access-Control-Request-Method": "POST"},
        )
        assert response.headers["access-control-allow-origin"] == "https://ats.example"


@pytest.mark.slow
def test_the_service_answers_without_torch_or_hydra(tiny_package):
    """App, package and a request in a fresh process: neither torch nor Hydra is imported
    (the command line composes with Hydra before the app starts)."""
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from fastapi.testclient import TestClient\n"
        "from resume_ner.config.schema import ServeConfig\n"
        "from resume_ner.serve.app import Served, create_app\n"
        "from resume_ner.serve.loading import load_predictor, resolve_package\n"
        f"folder, _ = resolve_package({str(tiny_package)!r})\n"
        "served = Served(load_predictor(folder, 'int8', 1), 'tiny', None, 'int8')\n"
        "with TestClient(create_app(served, ServeConfig(name='t'))) as client:\n"
        "    assert client.post('/v1/extract', json={'text': 'Vikas Singh'}).status_code == 200\n"
        "heavy = ('torch', 'hydra')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
