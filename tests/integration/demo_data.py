"""(No tests here.) The demo chain's product list, parsed from demo/products.h (the one list both
seeds use), for tests that check what the demo data shows a person."""

import re
from pathlib import Path

_LINE = re.compile(r'^\s*X\("(P\d+)",\s*"([^"]*)",\s*"([A-Z]+)",\s*"([^"]*)"\)')


def demo_products():
    """[(code, name, category, note)] in file order."""
    path = Path(__file__).resolve().parents[2] / "demo" / "products.h"
    rows = [m.groups() for m in map(_LINE.match, path.read_text().splitlines()) if m]
    assert rows, f"no products parsed from {path}"
    return rows
