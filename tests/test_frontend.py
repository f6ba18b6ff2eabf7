"""The editors' own JavaScript logic, run by Node's test runner (``node --test web/frontend/lib/``)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_frontend_lib():
    result = subprocess.run(["node", "--test", "web/frontend/lib/"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
