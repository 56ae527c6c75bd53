"""A screenshot of the page of ``bptt serve``, typed into as a user would: docs/serve_page.png.

    python bench/serve_page.py [--text "..."] [--out docs/serve_page.png]

Serves the shipped model on a free loopback port, opens the page in Debian's headless Chromium
through ChromeDriver (the helper of the page test, tests/browser.py), types the review key by key,
waits until the label and the coloured words are shown, and writes the screenshot atomically.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from bptt.files import atomic_write  # noqa: E402
from bptt.serve.app import create_app  # noqa: E402
from bptt.serve.model import load_model, model_card  # noqa: E402
from browser import Browser, require_browser, serving, wait_for  # noqa: E402

WORDS = "return document.querySelectorAll('#words .word').length;"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default="the plot is thin and the pacing is not great, but the actors "
                                          "are wonderful")
    parser.add_argument("--out", default=str(ROOT / "docs" / "serve_page.png"))
    args = parser.parse_args()
    chromium, driver = require_browser()
    clf, directory = load_model(None)
    words = len(clf.explain(args.text))
    with serving(create_app(clf, model_card(clf, directory))) as url, Browser(chromium, driver) as browser:
        browser.open(url)
        browser.type("#review", args.text)
        wait_for(lambda: browser.run(WORDS) == words, what="the coloured words")
        png = browser.screenshot()
    atomic_write(args.out, lambda tmp: Path(tmp).write_bytes(png))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
