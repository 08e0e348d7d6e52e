"""`python -m demo_app [--host 127.0.0.1] [--port 8080]`: serve the app with wsgiref."""

import argparse
import sys

from . import __version__
from .app import make_server


def main(argv=None):
    parser = argparse.ArgumentParser(prog="demo_app", description="Serve the wharf demo app.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    args = parser.parse_args(argv)
    with make_server(args.host, args.port) as server:
        host, port = server.server_address[:2]
        print(f"demo_app {__version__} serving on http://{host}:{port}/", file=sys.stderr, flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
