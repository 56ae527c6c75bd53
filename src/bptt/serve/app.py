"""The HTTP API and page of ``bptt serve``: a Starlette application around one classifier.

    GET  /          the page: type a review, see its label and every word coloured by how it
                    moved P(positive) (``static/index.html``; no external resources)
    GET  /health    {"status": "ok", "model": name}
    GET  /model     the model's card (``bptt.serve.model.model_card``)
    POST /predict   {"text": "..."}       -> {"label": ..., "probabilities": {class: p}}
                    {"texts": ["...", ...]} -> {"predictions": [{"label", "probabilities"}, ...]}
    POST /explain   {"text": "..."}       -> {"text", "label", "target", "words": [{"token",
                                              "probabilities", "move"}, ...]} (bptt.explanation)

Every error is JSON, ``{"error": "what is wrong and what was expected", "field": name}``
(``field`` where one is to blame), and a bad request is never a 500:

    400  the body is not UTF-8 JSON, or not a JSON object
    404  no such path;  405  wrong method (GET /predict)
    413  the body is larger than ``Limits.max_body_bytes``
    422  a missing, unknown or mistyped field; an empty list; a text longer than ``max_chars``
         characters; more than ``max_texts`` texts; for /explain more than ``max_explain_words``
         words (explaining reads every prefix, so its cost grows with the square of the length)

Inference runs in a worker thread (``run_in_threadpool``), so the event loop keeps accepting
and answering requests (``/health`` included) while the model computes.
"""
from __future__ import annotations

import json
from importlib import resources

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from ..explanation import explain
from .validate import BadRequest, Limits, explain_text, texts_of


def error(status: int, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, **({"field": field} if field else {})}, status_code=status)


async def read_json_object(request: Request, max_bytes: int) -> dict:
    """The request body as a JSON object, read at most ``max_bytes`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BadRequest(413, f"the body has {int(declared):,} bytes; at most {max_bytes:,} are read")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise BadRequest(413, f"the body is over {max_bytes:,} bytes")
    try:
        doc = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise BadRequest(400, f"the body is not UTF-8: {err.reason} at byte {err.start}") from None
    except json.JSONDecodeError as err:
        raise BadRequest(400, f"the body is not valid JSON: {err.msg} at line {err.lineno} "
                              f"column {err.colno}") from None
    if not isinstance(doc, dict):
        raise BadRequest(400, f"the body must be a JSON object such as {{\"text\": \"...\"}}, "
                              f"got a JSON {type(doc).__name__}")
    return doc


def _page() -> str:
    return resources.files(__package__).joinpath("static", "index.html").read_text(encoding="utf-8")


def create_app(clf, card: dict, limits: Limits = Limits()) -> Starlette:
    """The application serving ``clf``; ``card`` is what ``GET /model`` returns."""
    classes = list(clf.classes_)
    page = _page()

    def predictions(texts: list[str]) -> list[dict]:
        probs = clf.predict_proba(texts)
        return [{"label": classes[int(p.argmax())],
                 "probabilities": {c: round(float(q), 6) for c, q in zip(classes, p)}} for p in probs]

    async def index(request: Request):
        return HTMLResponse(page)

    async def health(request: Request):
        return JSONResponse({"status": "ok", "model": card.get("name")})

    async def model(request: Request):
        return JSONResponse(card)

    async def predict(request: Request):
        try:
            texts, single = texts_of(await read_json_object(request, limits.max_body_bytes), limits)
        except BadRequest as err:
            return error(err.status, err.message, err.field)
        out = await run_in_threadpool(predictions, texts)
        return JSONResponse(out[0] if single else {"predictions": out})

    async def explain_route(request: Request):
        try:
            text = explain_text(await read_json_object(request, limits.max_body_bytes), limits)
        except BadRequest as err:
            return error(err.status, err.message, err.field)
        result = await run_in_threadpool(explain, clf, text)
        return JSONResponse(result.to_dict())

    async def http_error(request: Request, exc: HTTPException):
        details = {404: f"no such path {request.url.path}; the API has GET /, /health, /model and "
                        f"POST /predict, /explain",
                   405: f"{request.method} is not allowed on {request.url.path}"}
        detail = details.get(exc.status_code, exc.detail)
        return error(exc.status_code, detail)

    async def server_error(request: Request, exc: Exception):
        return error(500, f"internal error: {type(exc).__name__}: {exc}")

    routes = [Route("/", index, methods=["GET"]), Route("/health", health, methods=["GET"]),
              Route("/model", model, methods=["GET"]), Route("/predict", predict, methods=["POST"]),
              Route("/explain", explain_route, methods=["POST"])]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})
