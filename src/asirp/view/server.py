"""The embedded Bokeh server of ``asirp view``: one application at ``/``, one page per browser tab.

Bokeh serves its JavaScript from the installed package, so the page works with no
network. The server binds 127.0.0.1 by default; bound to any other address it
requires the token of :mod:`asirp.view.auth`. The frames of the files named on the
command line are read once, before the first page asks for them, and shared by all
pages (frames are immutable).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from bokeh.application import Application
from bokeh.application.handlers import FunctionHandler
from bokeh.document import Document
from bokeh.server.auth_provider import AuthProvider
from bokeh.server.server import Server
from tornado.ioloop import IOLoop
from tornado.web import RequestHandler
from tornado.websocket import WebSocketHandler

from ..errors import AsirpError, OutputError
from .auth import TOKEN_ARGUMENT, TOKEN_COOKIE, is_loopback, new_token, token_ok
from .files import FrameCache
from .live import LiveFollower, RoiFeedback
from .page import ViewerPage
from .state import is_workspace, load_state


class _TokenRequired(RequestHandler):
    """Where a request without the right token is sent: a plain refusal saying what to do."""

    def get(self) -> None:
        self.set_status(403)
        self.finish("This asirp viewer needs the token printed by 'asirp view' when it started: open the URL it printed (…/?token=…).\n")


class TokenAuth(AuthProvider):
    """Bokeh authentication by a shared token: in the URL once, then in a same-site cookie."""

    def __init__(self, token: str) -> None:
        self._token = token
        super().__init__()

    @property
    def get_user(self) -> Any:
        def user(handler: RequestHandler) -> str | None:
            given = handler.get_argument(TOKEN_ARGUMENT, None)
            if given is not None and token_ok(given, self._token):
                if not isinstance(handler, WebSocketHandler):
                    handler.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="Strict")
                return "viewer"
            return "viewer" if token_ok(handler.get_cookie(TOKEN_COOKIE), self._token) else None

        return user

    @property
    def login_url(self) -> str:
        return "/token-required"

    @property
    def login_handler(self) -> type[RequestHandler]:
        return _TokenRequired


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the OS's choice)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class ViewerServer:
    """``asirp view``'s server: :meth:`run` blocks (the command), :meth:`start` runs it in a thread (tests)."""

    def __init__(self, paths: list[str], *, host: str = "127.0.0.1", port: int = 5006, folder: Path | None = None,
                 token: str | None = None, live: LiveFollower | None = None, feedback: RoiFeedback | None = None) -> None:
        self.paths = paths
        #: Live mode: the follower every page reads (one per server, whatever the number of tabs), and where ROIs go.
        self.live = live
        self.feedback = feedback
        self.host = host
        self.port = port or free_port(host)
        self.folder = folder or Path.cwd()
        self.token = token if token is not None or is_loopback(host) else new_token()
        self.cache = FrameCache()
        self._loop: IOLoop | None = None
        self._server: Server | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        """The page's address (with the token when one is required)."""
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        shown = f"[{shown}]" if ":" in shown else shown
        return f"http://{shown}:{self.port}/" + (f"?{TOKEN_ARGUMENT}={self.token}" if self.token else "")

    def preload(self) -> list[str]:
        """Read the files given and load the method registry before the first page; returns one-line problems."""
        from ..api import methods

        if self.live is not None:  # live mode restores nothing: the pipeline does
            return []
        methods()
        problems = []
        for path in self.paths:
            try:
                self.cache.open(load_state(path).path if is_workspace(path) else path)
            except AsirpError as exc:
                problems.append(str(exc))
        return problems

    def _page(self, doc: Document) -> None:
        if self.live is not None:
            from .live_page import LivePage

            LivePage(doc, self.live, self.feedback)
        else:
            ViewerPage(doc, self.cache, self.paths, self.folder)

    def _make_server(self) -> Server:
        origins = [f"{name}:{self.port}" for name in ("localhost", "127.0.0.1")]
        options: dict[str, Any] = {}
        if self.token:
            # Anyone on the network may load the page's scripts; nothing answers without the token.
            origins = ["*"]
            options["auth_provider"] = TokenAuth(self.token)
        try:
            return Server({"/": Application(FunctionHandler(self._page))}, io_loop=self._loop, address=self.host, port=self.port,
                          allow_websocket_origin=origins, **options)
        except OSError as exc:
            raise OutputError(f"cannot listen on {self.host}:{self.port} ({exc.strerror}); choose another --port") from None

    def run(self) -> None:
        """Serve until interrupted (Ctrl-C)."""
        self._loop = IOLoop.current()
        self._server = self._make_server()
        self._server.start()
        self._ready.set()
        self._loop.start()

    def start(self, timeout_s: float = 30.0) -> ViewerServer:
        """Serve from a background thread; returns once the server listens."""
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(asyncio.new_event_loop())
            try:
                self.run()
            except BaseException as exc:
                failure.append(exc)
                self._ready.set()

        threading.Thread(target=serve, daemon=True, name="asirp-view-server").start()
        if not self._ready.wait(timeout_s):
            raise OutputError(f"the viewer did not start within {timeout_s:g} s")
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving (from any thread), and the live follower."""
        if self.live is not None:
            self.live.close()
        if self._loop is not None and self._server is not None:
            server, loop = self._server, self._loop
            loop.add_callback(server.stop)
            loop.add_callback(loop.stop)


def serve(paths: list[str], *, host: str, port: int, open_browser: bool, live: LiveFollower | None = None,
          feedback: RoiFeedback | None = None) -> int:
    """Run ``asirp view``: preload, print the URL, open a browser tab, serve until Ctrl-C (``live``: follow a pipeline)."""
    viewer = ViewerServer(paths, host=host, port=port, live=live, feedback=feedback)
    if live is not None:
        if hasattr(os, "nice"):  # the pipeline's CPU comes first: on a shared machine the viewer takes what is left
            os.nice(10)
        live.start()
        print(f"asirp view: following {live.folder}" + (f" (raw frames from {live.raw.spec})" if live.raw else ""), flush=True)
    for problem in viewer.preload():
        print(f"asirp: {problem}", file=sys.stderr)
    if viewer.token:
        print(f"asirp view: listening on {host} (beyond this machine): the page needs the token in this URL", file=sys.stderr)
    print(f"asirp view: {viewer.url}  (Ctrl-C to stop)", flush=True)
    if open_browser:
        import webbrowser

        IOLoop.current().add_callback(webbrowser.open, viewer.url)
    try:
        viewer.run()
    except KeyboardInterrupt:
        print("asirp view: stopped", file=sys.stderr)
    finally:
        if live is not None:
            live.close()
    return 0
