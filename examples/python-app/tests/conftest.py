import io
import json
from wsgiref.util import setup_testing_defaults

import pytest

from demo_app import application


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.status_code = int(status.split(" ", 1)[0])
        self.headers = dict(headers)
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)


def call(path, method="GET"):
    """Calls the WSGI app in-process (no sockets) and collects its response."""
    environ = {"PATH_INFO": path, "REQUEST_METHOD": method, "wsgi.input": io.BytesIO(b"")}
    setup_testing_defaults(environ)
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = status
        captured["headers"] = headers

    chunks = application(environ, start_response)
    body = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return Response(captured["status"], captured["headers"], body)


@pytest.fixture
def client():
    return call
