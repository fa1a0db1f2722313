"""The client package as shipped: it type-checks under `mypy --strict`, it carries its
`py.typed` marker, and it installs and works on its own (no service package, no Flask,
no httpx; AsyncAuthzClient then says which extra it needs)."""
from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "clients" / "python" / "src" / "partner_authz_client"


def test_the_client_package_passes_mypy_strict(request: pytest.FixtureRequest) -> None:
    config_cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    cache = config_cache.mkdir("mypy-client") if config_cache is not None else None
    command = [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(PACKAGE)]
    if cache is not None:
        command[3:3] = ["--cache-dir", str(cache)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_package_marks_itself_typed() -> None:
    assert (PACKAGE / "py.typed").is_file()
    pyproject = (ROOT / "clients" / "python" / "pyproject.toml").read_text()
    assert 'partner_authz_client = ["py.typed"]' in pyproject


def test_the_client_installs_and_imports_on_its_own(tmp_path: Path) -> None:
    """`pip install ./clients/python` into a bare venv: no service package, no Flask, no httpx needed."""
    venv.create(tmp_path / "venv", with_pip=False)  # nothing but the standard library; this pip installs into it
    python = str(tmp_path / "venv" / "bin" / "python")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
                    "--disable-pip-version-check", str(ROOT / "clients" / "python")], check=True, capture_output=True)
    probe = "\n".join([
        "import importlib.resources as r, importlib.util as u, partner_authz_client as c",
        "assert all(u.find_spec(m) is None for m in ('service', 'flask', 'httpx'))",
        "assert r.files('partner_authz_client').joinpath('py.typed').is_file()",
        "print(c.AuthzClient('http://127.0.0.1:9', 'k', retries=0).check('user:1', 'a', 'organization:1'))",
        "try:",
        "    c.AsyncAuthzClient",
        "except ImportError as exc:",
        "    print(exc)",
    ])
    out = subprocess.run([python, "-I", "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert "allowed=False" in out.stdout
    assert "pip install 'partner-authz-client[async]'" in out.stdout
