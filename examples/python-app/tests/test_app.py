from importlib.metadata import version

import demo_app


def test_index_is_html(client):
    r = client("/")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert "<h1>wharf demo app</h1>" in r.text
    assert int(r.headers["Content-Length"]) == len(r.body)


def test_health(client):
    r = client("/health")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"status": "ok"}


def test_version_without_wharf_env(client, monkeypatch):
    monkeypatch.delenv("WHARF_VERSION", raising=False)
    r = client("/version")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "wharf-demo-app"
    assert body["version"] == demo_app.__version__ == version("wharf-demo-app")
    assert body["wharf_version"] is None


def test_version_with_wharf_env(client, monkeypatch):
    monkeypatch.setenv("WHARF_VERSION", "1.2.3")
    r = client("/version")
    assert r.status_code == 200
    assert r.json()["wharf_version"] == "1.2.3"
    assert r.json()["version"] == demo_app.__version__


def test_index_shows_wharf_version_escaped(client, monkeypatch):
    monkeypatch.setenv("WHARF_VERSION", "<v1>")
    r = client("/")
    assert "&lt;v1&gt;" in r.text
    assert "<v1>" not in r.text


def test_unknown_path_is_json_404(client):
    r = client("/nope")
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"error": "not found", "path": "/nope"}


def test_other_method_is_405(client):
    r = client("/health", method="POST")
    assert r.status_code == 405
    assert r.json()["error"] == "method not allowed"


def test_head_has_no_body(client):
    r = client("/health", method="HEAD")
    assert r.status_code == 200
    assert r.body == b""


def test_main_host_defaults_to_loopback(monkeypatch):
    from demo_app import __main__ as main_mod

    seen = {}

    class FakeServer:
        server_address = ("127.0.0.1", 0)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def serve_forever(self):
            seen["served"] = True

    def fake_make_server(host, port):
        seen["host"], seen["port"] = host, port
        return FakeServer()

    monkeypatch.setattr(main_mod, "make_server", fake_make_server)
    assert main_mod.main(["--port", "8081"]) == 0
    assert seen == {"host": "127.0.0.1", "port": 8081, "served": True}
