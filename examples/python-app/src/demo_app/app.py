"""The WSGI application.

Routes:
    GET /         a small HTML page
    GET /health   {"status": "ok"}
    GET /version  {"name": ..., "version": <package version>, "wharf_version": $WHARF_VERSION or null}
Anything else is a JSON 404 (or a JSON 405 for a known path with another method).
"""

import html
import json
import os
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.simple_server import make_server as _wsgiref_make_server

DIST_NAME = "wharf-demo-app"


def _package_version():
    from . import __version__

    return __version__


def _json(start_response, status, body):
    data = json.dumps(body, sort_keys=True).encode("utf-8")
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
        ],
    )
    return [data]


def _index(environ, start_response):
    version = _package_version()
    wharf_version = os.environ.get("WHARF_VERSION")
    released = (
        f"<p>Released by wharf as <code>{html.escape(wharf_version)}</code>.</p>"
        if wharf_version
        else "<p>Not released by wharf (no <code>WHARF_VERSION</code> set).</p>"
    )
    page = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>wharf demo app</title></head>
<body>
<h1>wharf demo app</h1>
<p>Version <code>{html.escape(version)}</code>.</p>
{released}
<ul>
<li><a href="/health">/health</a></li>
<li><a href="/version">/version</a></li>
</ul>
</body>
</html>
""".encode("utf-8")
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(page))),
        ],
    )
    return [page]


def _health(environ, start_response):
    return _json(start_response, "200 OK", {"status": "ok"})


def _version(environ, start_response):
    return _json(
        start_response,
        "200 OK",
        {
            "name": DIST_NAME,
            "version": _package_version(),
            "wharf_version": os.environ.get("WHARF_VERSION"),
        },
    )


ROUTES = {"/": _index, "/health": _health, "/version": _version}


def application(environ, start_response):
    """WSGI entry point."""
    path = environ.get("PATH_INFO") or "/"
    method = environ.get("REQUEST_METHOD", "GET").upper()
    handler = ROUTES.get(path)
    if handler is None:
        return _json(start_response, "404 Not Found", {"error": "not found", "path": path})
    if method not in ("GET", "HEAD"):
        return _json(start_response, "405 Method Not Allowed", {"error": "method not allowed"})
    body = handler(environ, start_response)
    return [] if method == "HEAD" else body


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # one short line per request on stderr
        import sys

        sys.stderr.write("%s %s\n" % (self.address_string(), format % args))


def make_server(host="127.0.0.1", port=8080):
    """A wsgiref server for `application` (host defaults to loopback)."""
    return _wsgiref_make_server(
        host, port, application, server_class=WSGIServer, handler_class=_QuietHandler
    )
