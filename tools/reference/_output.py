"""Writing a reference data file: the text must parse back to the document it was made from."""

from __future__ import annotations

import json
from pathlib import Path


def write_checked(out: Path, text: str, expected: object) -> None:
    """Write ``text`` (a compact JSON layout) to ``out`` after checking that it parses back to
    ``expected``, and say how big it is."""
    assert json.loads(text) == expected
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out} ({len(text):,} bytes)")
