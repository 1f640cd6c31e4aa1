"""The emulator's control API (DESIGN §4.2): HTTP JSON on 127.0.0.1.

Routes are a table of (method, pattern, handler); `add_route()` lets another part (the fake MMSC's
`/modems/{id}/mms`) join without touching this file.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from appliance.modem.emulator.emulator import BadRequest, UnknownModem

if TYPE_CHECKING:
    from appliance.modem.emulator.emulator import Emulator

log = logging.getLogger(__name__)

MAX_BODY = 8 << 20  # an MMS of a few MB, base64-encoded, in POST /modems/{id}/mms

# handler(emulator, match, body) -> (status, json-able payload)
RouteHandler = Callable[["Emulator", "re.Match[str]", Any], tuple[int, Any]]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def list_modems(emulator: Emulator, match: re.Match[str], body: Any) -> tuple[int, Any]:
    return 200, emulator.modems()


def show_modem(emulator: Emulator, match: re.Match[str], body: Any) -> tuple[int, Any]:
    return 200, emulator.modem(int(match["id"])).info()


def post_sms(emulator: Emulator, match: re.Match[str], body: Any) -> tuple[int, Any]:
    request = _object(body)
    for key in ("from", "text"):
        if key not in request:
            raise ApiError(400, f'missing "{key}"')
    smsc_time = request.get("smsc_time")
    if smsc_time is not None and not isinstance(smsc_time, str):
        raise ApiError(400, '"smsc_time" must be an ISO 8601 string')
    modem_id = int(match["id"])
    parts = emulator.deliver_sms(modem_id, request["from"], request["text"], smsc_time)
    return 200, {"modem": modem_id, "parts": parts, "queued": parts}


def post_pdu(emulator: Emulator, match: re.Match[str], body: Any) -> tuple[int, Any]:
    request = _object(body)
    pdu = request.get("pdu")
    if not isinstance(pdu, str) or not pdu:
        raise ApiError(400, '"pdu" must be a hexadecimal string')
    smsc = request.get("smsc", True)
    if not isinstance(smsc, bool):
        raise ApiError(400, '"smsc" must be true or false')
    modem_id = int(match["id"])
    return 200, {"modem": modem_id, "queued": emulator.deliver_pdu(modem_id, pdu, smsc=smsc)}


def get_sent(emulator: Emulator, match: re.Match[str], body: Any) -> tuple[int, Any]:
    return 200, emulator.sent(int(match["id"]))


def post_fault(emulator: Emulator, match: re.Match[str], body: Any) -> tuple[int, Any]:
    request = dict(_object(body))
    kind = request.pop("kind", None)
    if not isinstance(kind, str):
        raise ApiError(400, '"kind" must name a fault')
    params = request.pop("params", None) or {}
    if not isinstance(params, dict):
        raise ApiError(400, '"params" must be an object')
    params.update(request)  # {"kind": "hang", "seconds": 3} and {"kind": "hang", "params": {...}} both work
    modem_id = int(match["id"])
    result = emulator.fault(modem_id, kind, **params)
    return 200, {"modem": modem_id, "kind": kind, **result}


class ControlApi:
    def __init__(self, emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self.routes: list[tuple[str, re.Pattern[str], RouteHandler]] = []
        self.add_route("GET", r"/modems", list_modems)
        self.add_route("GET", r"/modems/(?P<id>\d+)", show_modem)
        self.add_route("POST", r"/modems/(?P<id>\d+)/sms", post_sms)
        self.add_route("POST", r"/modems/(?P<id>\d+)/pdu", post_pdu)
        self.add_route("GET", r"/modems/(?P<id>\d+)/sent", get_sent)
        self.add_route("POST", r"/modems/(?P<id>\d+)/fault", post_fault)
        self._server = ThreadingHTTPServer((host, port), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="emulator-control", daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host}:{self.port}"

    def add_route(self, method: str, pattern: str, handler: RouteHandler) -> None:
        self.routes.append((method.upper(), re.compile(pattern + r"/?"), handler))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def handle(self, method: str, path: str, raw_body: bytes) -> tuple[int, Any]:
        path = path.split("?", 1)[0]
        allowed = False
        for route_method, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if not match:
                continue
            if route_method != method:
                allowed = True
                continue
            try:
                body = json.loads(raw_body) if raw_body.strip() else None
            except (ValueError, UnicodeDecodeError):
                return 400, {"error": "the request body is not valid JSON"}
            try:
                return handler(self.emulator, match, body)
            except ApiError as error:
                return error.status, {"error": error.message}
            except UnknownModem as error:
                return 404, {"error": str(error)}
            except BadRequest as error:
                return 400, {"error": str(error)}
        if allowed:
            return 405, {"error": f"{method} is not allowed on {path}"}
        return 404, {"error": f"no such endpoint: {path}"}


def _handler_class(api: ControlApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                status, payload = 413, {"error": "request body too large"}
                self.close_connection = True
            else:
                raw = self.rfile.read(length) if length else b""
                try:
                    status, payload = api.handle(method, self.path, raw)
                except Exception as error:  # reported to the caller, not only to our log
                    log.exception("control API %s %s", method, self.path)
                    status, payload = 500, {"error": f"{type(error).__name__}: {error}"}
            data = json.dumps(payload).encode()
            self.send_response(status, HTTPStatus(status).phrase)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def do_PUT(self) -> None:  # noqa: N802
            self._serve("PUT")

        def do_DELETE(self) -> None:  # noqa: N802
            self._serve("DELETE")

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("control API: " + format, *args)

    return Handler
