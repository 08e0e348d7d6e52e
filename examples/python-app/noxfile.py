"""Task layer of the demo app: wharf's pipeline (wharf.yml) only calls these sessions."""

import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

HERE = Path(__file__).parent


@nox.session
def tests(session):
    """Install the package and run the test suite, writing JUnit XML for wharf's report."""
    session.install("pytest", ".")
    session.run("pytest", "--junitxml=reports/junit.xml", "-q", *session.posargs)


@nox.session
def build(session):
    """Build exactly one wheel into dist/."""
    shutil.rmtree(HERE / "dist", ignore_errors=True)
    shutil.rmtree(HERE / "build", ignore_errors=True)
    session.install("build")
    session.run("python", "-m", "build", "--wheel", "--outdir", "dist/")
