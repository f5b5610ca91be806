"""Fixtures shared by the dashboard tests."""

from pathlib import Path

import pytest

from dashboard.store import open_store


@pytest.fixture
def store(tmp_path):
    """A fresh SQLite dashboard store in the test's temporary directory."""
    s = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    yield s
    s.close()


AXE_JS = Path(__file__).resolve().parents[2] / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's axe.min.js, the version pinned in tests/axe/package-lock.json, which
    `make deps` installs into .cache/axe. Missing is a failure, never a skip."""
    if not AXE_JS.is_file():
        pytest.fail(f"axe-core is not installed ({AXE_JS} is missing): run make deps", pytrace=False)
    return AXE_JS.read_text(encoding="utf-8")


@pytest.fixture
def axe(axe_source):
    """``axe(page)``: inject axe-core into ``page`` (through the DevTools protocol, so the
    dashboard's Content-Security-Policy does not block it), run ``axe.run`` on the whole
    document and return its violations of impact serious or critical, one line each."""

    def run(page, *, impacts=("serious", "critical")) -> list[str]:
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(axe_source)
        assert page.evaluate("() => typeof window.axe === 'object'"), "axe-core did not load"
        result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        return [
            f"{v['impact']} {v['id']}: {v['help']} at "
            + "; ".join(" ".join(n["target"]) + (f" ({n['failureSummary']})" if n.get("failureSummary") else "")
                        for n in v["nodes"][:4])
            for v in result["violations"] if v["impact"] in impacts
        ]

    return run


@pytest.fixture
def no_console_errors(page):
    """Fails the test on a page error or a console error (refused logins, pairings and
    commands answer 401/403/409 on purpose, so 'Failed to load resource' lines are not bugs)."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text else None)
    yield
    assert errors == []
