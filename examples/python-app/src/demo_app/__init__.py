"""wharf demo app: a small WSGI web application (standard library only)."""

from importlib.metadata import PackageNotFoundError, version as _dist_version

try:
    __version__ = _dist_version("wharf-demo-app")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from .app import application, make_server  # noqa: E402

__all__ = ["__version__", "application", "make_server"]
