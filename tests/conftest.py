from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GOLDEN_OFFICIAL = SHARED / "golden" / "official_dspfusion"


def need(path: Path) -> Path:
    """Skip the test, with the reason, when shared data is absent."""
    if not path.exists():
        pytest.skip(f"needs {path} (the project's shared data folder is not present here)")
    return path


@pytest.fixture
def golden_official() -> Path:
    return need(GOLDEN_OFFICIAL)
