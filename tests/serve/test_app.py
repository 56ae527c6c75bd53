"""The API of bptt serve through an in-process client (httpx's ASGI transport, no socket): values
equal to the classifier's own, every bad request a 4xx JSON error naming the field, inference off
the event loop."""
import asyncio
import time

import httpx
import numpy as np
import pytest

from bptt.explanation import explain
from bptt.serve.app import create_app
from bptt.serve.model import load_model, model_card
from bptt.serve.validate import Limits

LIMITS = Limits(max_chars=200, max_texts=3, max_explain_words=12)


async def _requests(app, calls):
    transport = httpx.ASGITransport(app=app)        # app exceptions are raised: a 500 fails the test
    async with httpx.AsyncClient(transport=transport, base_url="http://bptt.test") as client:
        return [await client.request(method, path, **kw) for method, path, kw in calls]


def call(app, method, path, **kw) -> httpx.Response:
    return asyncio.run(_requests(app, [(method, path, kw)]))[0]


@pytest.fixture(scope="module")
def shipped():
    clf, directory = load_model(None)
    return clf, create_app(clf, model_card(clf, directory), LIMITS)


def test_predict_one_text_gives_the_classifier_s_probabilities(shipped):
    clf, app = shipped
    r = call(app, "POST", "/predict", json={"text": "this movie is not good"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    p = clf.predict_proba(["this movie is not good"])[0]
    assert r.json() == {"label": "negative", "probabilities": {"negative": round(float(p[0]), 6),
                                                               "positive": round(float(p[1]), 6)}}
    assert p[0] > 0.9


def test_predict_a_list_keeps_its_order(shipped):
    clf, app = shipped
    texts = ["this movie is good", "this movie is bad", "this movie is not bad"]
    r = call(app, "POST", "/predict", json={"texts": texts})
    got = r.json()["predictions"]
    assert [g["label"] for g in got] == ["positive", "negative", "positive"] == clf.predict(texts)
    np.testing.assert_allclose([[g["probabilities"][c] for c in clf.classes_] for g in got],
                               clf.predict_proba(texts), atol=5e-7)


def test_explain_gives_each_word_its_probability_and_move(shipped):
    clf, app = shipped
    got = call(app, "POST", "/explain", json={"text": "this movie is not good"}).json()
    expected = explain(clf, "this movie is not good")
    assert got["label"] == "negative" and got["target"] == "positive"
    assert [w["token"] for w in got["words"]] == ["this", "movie", "is", "not", "good"]
    p_positive = [w["probabilities"]["positive"] for w in got["words"]]
    np.testing.assert_allclose(p_positive, expected.p_target, atol=5e-7)
    np.testing.assert_allclose([w["move"] for w in got["words"]], expected.moves, atol=5e-7)
    assert got["words"][3]["move"] < -0.3                    # "not" pulls P(positive) down


def test_health_model_card_and_page(shipped):
    _, app = shipped
    assert call(app, "GET", "/health").json() == {"status": "ok", "model": "sst2"}
    card = call(app, "GET", "/model").json()
    assert card["classes"] == ["negative", "positive"] and card["model"]["cell"] == "lstm"
    assert card["figures"]["dev_accuracy"] == 0.8555
    page = call(app, "GET", "/")
    assert page.headers["content-type"].startswith("text/html") and 'id="review"' in page.text
    assert "http://" not in page.text and "https://" not in page.text            # nothing external


@pytest.mark.parametrize("kw, status, error, field", [
    ({"content": b"{not json"}, 400, "the body is not valid JSON: Expecting property name", None),
    ({"content": b"\xff\xfe{}"}, 400, "the body is not UTF-8", None),
    ({"json": ["a text"]}, 400, "the body must be a JSON object", None),
    ({"json": {}}, 422, 'give either "text" (one text) or "texts"', "text"),
    ({"json": {"text": "a", "texts": ["b"]}}, 422, "not both", "text"),
    ({"json": {"txt": "a"}}, 422, "unknown field 'txt'", "txt"),
    ({"json": {"text": 5}}, 422, "text must be a string, got a number", "text"),
    ({"json": {"texts": "a"}}, 422, "texts must be a list of strings, got a string", "texts"),
    ({"json": {"texts": []}}, 422, "texts is an empty list", "texts"),
    ({"json": {"texts": ["a", None]}}, 422, "texts[1] must be a string, got a null", "texts[1]"),
    ({"json": {"texts": ["a"] * 4}}, 422, "texts has 4 texts; at most 3 per request", "texts"),
    ({"json": {"text": "x" * 201}}, 422, "text has 201 characters; at most 200", "text"),
    ({"json": {"texts": ["ok", "x" * 201]}}, 422, "texts[1] has 201 characters", "texts[1]"),
    ({"content": b'{"text": "\\ud800"}'}, 422, "text holds an unpaired surrogate (\\ud800) at character 0",
     "text"),
    ({"content": b"x" * (LIMITS.max_body_bytes + 1)}, 413, "the body has", None),
])
def test_bad_predict_requests_get_a_json_4xx(shipped, kw, status, error, field):
    _, app = shipped
    r = call(app, "POST", "/predict", **kw)
    assert r.status_code == status
    body = r.json()
    assert body["error"].startswith(error) or error in body["error"]
    assert body.get("field") == field


def test_bad_explain_requests_and_paths_get_a_json_4xx(shipped):
    _, app = shipped
    cases = [("POST", "/explain", {"json": {"texts": ["a"]}}, 422, "unknown field 'texts'"),
             ("POST", "/explain", {"json": {"text": " ".join(["good"] * 13)}}, 422,
              "text has 13 words; /explain reads at most 12"),
             ("GET", "/predict", {}, 405, "GET is not allowed on /predict"),
             ("GET", "/nothing", {}, 404, "no such path /nothing")]
    for method, path, kw, status, error in cases:
        r = call(app, method, path, **kw)
        assert (r.status_code, r.json()["error"][:len(error)]) == (status, error)


def test_a_streamed_body_over_the_limit_is_cut_off_at_413(shipped):
    _, app = shipped

    async def chunks():
        for _ in range(LIMITS.max_body_bytes // 1000 + 2):
            yield b" " * 1000                      # no Content-Length: counted as it arrives
    r = call(app, "POST", "/predict", content=chunks())
    assert r.status_code == 413 and r.json()["error"].startswith("the body is over")


class SlowClassifier:
    """Stands in for a model whose inference blocks for 0.4 s (as a long text would)."""
    classes_ = ("negative", "positive")

    def predict_proba(self, texts):
        time.sleep(0.4)
        return np.tile([0.25, 0.75], (len(texts), 1))


def test_inference_runs_off_the_event_loop():
    app = create_app(SlowClassifier(), {"name": "slow"})
    finished = []

    async def timed(client, method, path, **kw):
        r = await client.request(method, path, **kw)
        finished.append(path)
        return r

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bptt.test") as client:
            slow = asyncio.create_task(timed(client, "POST", "/predict", json={"text": "x"}))
            await asyncio.sleep(0.05)                # the prediction is under way
            health = await timed(client, "GET", "/health")
            return await slow, health
    slow, health = asyncio.run(run())
    assert finished == ["/health", "/predict"]      # answered while the model computed
    assert health.json()["status"] == "ok"
    assert slow.json()["probabilities"] == {"negative": 0.25, "positive": 0.75}


def test_concurrent_requests_get_the_same_answers_as_one_at_a_time(shipped):
    clf, app = shipped
    texts = [f"the {adj} film is {neg}{word} ." for adj in ("long", "short") for neg in ("", "not ")
             for word in ("good", "bad", "dull", "moving")]                      # 16 texts
    calls = [("POST", "/predict", {"json": {"text": t}}) for t in texts]

    async def together():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bptt.test") as client:
            return await asyncio.gather(*(client.request(m, p, **kw) for m, p, kw in calls))
    got = [r.json()["probabilities"]["positive"] for r in asyncio.run(together())]
    np.testing.assert_allclose(got, clf.predict_proba(texts)[:, 1], atol=5e-7)
