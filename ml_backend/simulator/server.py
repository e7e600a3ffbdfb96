"""The simulator's HTTP server: stdlib, one thread per connection, HTTP/1.1 keep-alive.

Simulated latency is a ``sleep`` in the connection's own thread, so hundreds of slow requests
overlap the way they do against a real endpoint, and the openai client's connection pool reuses
connections (every answer carries a Content-Length). Nagle is off so that a response's headers
and body are not held back by delayed ACKs.

Routes: ``GET /v1/models``, ``GET /v1/models/<id>``, ``POST /v1/chat/completions``, and the test
controls ``GET /_sim/stats``, ``POST /_sim/reset``, ``GET``/``POST /_sim/config`` (which need the
API key when one is set).
"""

from __future__ import annotations

import hmac
import json
import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ml_backend.simulator import embeddings
from ml_backend.simulator.completion import check_context, complete, count_prompt_tokens
from ml_backend.simulator.faults import CONTENT_FAULTS, TRANSPORT_FAULTS, FaultDice, RateWindow, Stats
from ml_backend.simulator.models import MODELS
from ml_backend.simulator.options import OptionsError, SimulatorOptions
from ml_backend.simulator.prompt import DirectiveError, Directives, parse_directives
from ml_backend.simulator.validation import ApiError, ChatRequest, bad, refuse_parameters, validate

SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"


class SimulatorState:
    """Options, counters, rpm window and fault RNG shared by all connection threads."""

    def __init__(self, options: SimulatorOptions) -> None:
        self.options = options
        self.stats = Stats()
        self.window = RateWindow()
        self.dice = FaultDice(options.seed)
        self.jitter = random.Random(options.seed)
        self._lock = threading.Lock()

    def configure(self, changes: dict[str, Any]) -> SimulatorOptions:
        """Apply runtime changes (raises OptionsError); a new seed restarts the fault sequence."""
        with self._lock:
            self.options = self.options.updated(changes)
            if "seed" in changes:
                self.dice.reseed(self.options.seed)
            return self.options

    def reset(self) -> None:
        """Zero the counters and the rpm window, and restart the fault sequence."""
        self.stats.reset()
        self.window.clear()
        self.dice.reseed(self.options.seed)


class SimulatorServer(ThreadingHTTPServer):
    """A running simulator; ``url`` is its OpenAI base URL (``.../v1``)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, host: str, port: int, options: SimulatorOptions) -> None:
        super().__init__((host, port), _Handler)
        self.state = SimulatorState(options)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up (timeouts, dropped connections) is normal here, not worth a traceback."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self.shutdown()
        self.server_close()


def make_server(host: str, port: int, options: SimulatorOptions | None = None) -> SimulatorServer:
    """A bound, listening simulator that is not serving yet (raises OSError if the port is taken)."""
    return SimulatorServer(host, port, options or SimulatorOptions())


def serve(host: str = "127.0.0.1", port: int = 0, options: SimulatorOptions | None = None) -> SimulatorServer:
    """A simulator serving in a background thread; call ``.stop()`` when done."""
    server = make_server(host, port, options)
    threading.Thread(target=server.serve_forever, name="llm-simulator", daemon=True).start()
    return server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lsagent-simulator/1"
    disable_nagle_algorithm = True
    timeout = 120
    server: SimulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: one line per request would drown a benchmark's output."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        raw = self._read_body()
        if raw is None:
            return
        path = urlsplit(self.path).path.rstrip("/")
        if method == "POST" and path == "/v1/chat/completions":
            stats = self.server.state.stats
            stats.enter()
            try:
                self._chat(raw)
            finally:
                stats.leave()
            return
        try:
            self._send_json(200, self._route(method, path, raw))
        except ApiError as error:
            self._send_json(error.status, error.body, error.headers)

    def _route(self, method: str, path: str, raw: bytes) -> dict[str, Any]:
        state = self.server.state
        if method == "GET" and path == "/v1/models":
            self._authorize(state.options, required=True)
            return {"object": "list", "data": [spec.describe() for spec in MODELS.values()]}
        if method == "GET" and path.startswith("/v1/models/"):
            self._authorize(state.options, required=True)
            name = path.removeprefix("/v1/models/")
            if name not in MODELS:
                raise ApiError(404, f"The model `{name}` does not exist or you do not have access to it.",
                               code="model_not_found")
            return MODELS[name].describe()
        if method == "POST" and path == "/v1/embeddings":
            self._authorize(state.options, required=True)
            if "embeddings" in state.options.rejected():  # like a chat-only server
                raise ApiError(404, f"Invalid URL ({method} {path})")
            answer = embeddings.answer(_json(raw))
            state.stats.embedded(len(answer["data"]))
            return answer
        if path.startswith("/_sim/"):
            self._authorize(state.options, required=False)
            return self._control(method, path, raw)
        raise ApiError(404, f"Invalid URL ({method} {path})")

    def _control(self, method: str, path: str, raw: bytes) -> dict[str, Any]:
        state = self.server.state
        if method == "GET" and path == "/_sim/stats":
            return state.stats.snapshot()
        if method == "POST" and path == "/_sim/reset":
            state.reset()
            return state.stats.snapshot()
        if path == "/_sim/config" and method == "GET":
            return state.options.public()
        if path == "/_sim/config" and method == "POST":
            changes = _json(raw)
            if not isinstance(changes, dict):
                raise bad("POST /_sim/config needs a JSON object of options.", code=None)
            try:
                return state.configure(changes).public()
            except OptionsError as exc:
                raise bad(str(exc), code=None) from None
        raise ApiError(404, f"Invalid URL ({method} {path})")

    def _chat(self, raw: bytes) -> None:
        state = self.server.state
        options = state.options
        body = _json(raw)
        state.stats.received(body)
        try:
            request, directives, prompt_tokens = self._admit(options, body)
            fault, content_faults = _faults(state, options, directives)
        except ApiError as error:
            state.stats.outcome(str(error.status))
            self._send_json(error.status, error.body, {**error.headers, **_limit_headers(state, options)})
            return
        if fault == "drop":
            state.stats.outcome("drop")
            self._drop()
            return
        if fault == "timeout":
            state.stats.outcome("timeout")
            time.sleep(options.timeout_sleep_s)
        else:
            _sleep_latency(state, options)
        answer = complete(request, seed=options.seed, logprobs=options.logprobs, faults=content_faults,
                          directives=directives, prompt_tokens=prompt_tokens)
        if fault != "timeout":
            usage = answer["usage"]
            state.stats.outcome("200", usage["prompt_tokens"], usage["completion_tokens"])
        self._send_json(200, answer, _limit_headers(state, options))

    def _admit(self, options: SimulatorOptions, body: Any) -> tuple[ChatRequest, Directives, int]:
        """Auth, body, parameters, context window and rpm, in the order the real API checks them."""
        self._authorize(options, required=True)
        if body is None:
            raise bad("We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                      "using your HTTP library correctly.)", code=None)
        request = validate(body)
        refuse_parameters(body, options.rejected(), options.reject_status)
        try:
            directives = parse_directives(request.task_text)
        except DirectiveError as exc:
            raise bad(str(exc), "messages") from None
        prompt_tokens = count_prompt_tokens(request.messages)
        check_context(request, prompt_tokens)
        wait = self.server.state.window.admit(time.monotonic(), options.rpm, options.rpm_window_s)
        if wait is not None:
            raise ApiError(429, f"Rate limit reached for requests on {request.model.name} (simulated): Limit "
                           f"{options.rpm} / min, {RateWindow.capacity(options.rpm, options.rpm_window_s)} per "
                           f"{options.rpm_window_s:g} s. Please try again in {wait:.3f}s.", type="requests",
                           code="rate_limit_exceeded", headers=_retry(wait))
        return request, directives, prompt_tokens

    def _authorize(self, options: SimulatorOptions, required: bool) -> None:
        """Any non-empty bearer key, or exactly the configured one; ``required=False`` only checks
        when a key is configured (the test controls)."""
        if not required and options.api_key is None:
            return
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "You didn't provide an API key. You need to provide your API key in an "
                           "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        if options.api_key is not None and not hmac.compare_digest(token.strip().encode(), options.api_key.encode()):
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")

    def _read_body(self) -> bytes | None:
        """The request body by Content-Length; None (after answering 400) when it cannot be read."""
        length = self.headers.get("Content-Length", "0")
        if self.headers.get("Transfer-Encoding") or not length.isdigit():
            self.close_connection = True
            self._send_json(400, bad("Send the body with a valid Content-Length (chunked bodies are not "
                                     "supported).", code=None).body)
            return None
        return self.rfile.read(int(length))

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        """Close the connection without sending anything, as a crashed proxy would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        return None


def _faults(state: SimulatorState, options: SimulatorOptions,
            directives: Directives) -> tuple[str | None, frozenset[str]]:
    """The transport fault (directive first, else the random draw) and the content faults.

    429 and 500 are raised here as ApiError; ``drop`` and ``timeout`` are returned for the handler.
    """
    drawn, detail = state.dice.draw(options)
    transport = next((fault for fault in TRANSPORT_FAULTS if fault in directives.faults), None)
    content = {fault for fault in CONTENT_FAULTS if fault in directives.faults}
    if transport is None and drawn in TRANSPORT_FAULTS:
        transport = drawn
    elif drawn in CONTENT_FAULTS:
        content.add(drawn)
    if transport == "429":
        wait = 0.05 + 0.15 * detail
        raise ApiError(429, f"Rate limit reached for requests (simulated fault). Please try again in {wait:.3f}s.",
                       type="requests", code="rate_limit_exceeded", headers=_retry(wait))
    if transport == "500":
        _sleep_latency(state, options)
        raise ApiError(500, SERVER_ERROR, type="server_error")
    return transport, frozenset(content)


def _sleep_latency(state: SimulatorState, options: SimulatorOptions) -> None:
    jitter = state.jitter.uniform(-options.jitter_ms, options.jitter_ms) if options.jitter_ms else 0.0
    delay = max(options.latency_ms + jitter, 0.0) / 1000.0
    if delay:
        time.sleep(delay)


def _retry(wait: float) -> dict[str, str]:
    """Both headers the openai client reads: seconds (fractional allowed) and milliseconds."""
    return {"retry-after": f"{wait:.3f}".rstrip("0").rstrip("."), "retry-after-ms": str(max(1, round(wait * 1000)))}


def _limit_headers(state: SimulatorState, options: SimulatorOptions) -> dict[str, str]:
    if options.rpm <= 0:
        return {}
    capacity = RateWindow.capacity(options.rpm, options.rpm_window_s)
    remaining = max(capacity - state.window.used(time.monotonic(), options.rpm_window_s), 0)
    return {"x-ratelimit-limit-requests": str(options.rpm), "x-ratelimit-remaining-requests": str(remaining)}
