"""Every failure leaves as the contract's error envelope; a 500 never carries a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vidgate.contract import error as error_envelope
from vidgate.errors import InternalError, InvalidRequest, NotFound, VidgateError

log = logging.getLogger("vidgate.api")

_HTTP_CODES = {404: NotFound, 405: InvalidRequest}


def request_id_of(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def error_response(request: Request, exc: VidgateError) -> JSONResponse:
    rid = request_id_of(request)
    headers = dict(exc.headers)
    if rid:
        headers["X-Request-Id"] = rid
    return JSONResponse(error_envelope(exc.to_error(), rid), status_code=exc.status_code, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(VidgateError)
    async def _vidgate(request: Request, exc: VidgateError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or None
        return error_response(request, InvalidRequest(first.get("msg", "Invalid request"), field=field))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        cls = _HTTP_CODES.get(exc.status_code)
        if cls is None:
            err = VidgateError(str(exc.detail), code="http_error")
            err.status_code = exc.status_code
        else:
            msg = "Not found" if exc.status_code == 404 else f"Method {request.method} not allowed here"
            err = cls(msg, code="method_not_allowed" if exc.status_code == 405 else None)
            err.status_code = exc.status_code
        return error_response(request, err)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(request, InternalError())
