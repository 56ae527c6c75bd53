"""The page of bptt serve in a real headless Chromium (the OS package, through ChromeDriver): a user
types a review and sees its label and each word coloured by how it moved P(positive), updating as
they type. Skipped naming the packages when Chromium is absent, failed instead under CI."""
import pytest

from bptt.explanation import explain
from bptt.serve.app import create_app
from bptt.serve.model import load_model, model_card
from bptt.serve.validate import Limits
from browser import Browser, require_browser, serving, wait_for

WORDS = """return [...document.querySelectorAll('#words .word')].map((s) =>
    [s.textContent, Number(s.dataset.move), Number(s.dataset.p), getComputedStyle(s).backgroundColor]);"""
LABEL = """return [document.getElementById('label').textContent,
                document.querySelectorAll('#words .word').length];"""


def _channels(css_colour: str) -> tuple[int, int, int]:
    """'rgba(198, 40, 40, 0.5)' -> (198, 40, 40)."""
    return tuple(int(float(v)) for v in css_colour[css_colour.index("(") + 1:-1].split(",")[:3])


@pytest.fixture(scope="module")
def page():
    chromium, driver = require_browser()
    clf, directory = load_model(None)
    app = create_app(clf, model_card(clf, directory), Limits(max_explain_words=20))
    with serving(app) as url, Browser(chromium, driver) as browser:
        browser.open(url)
        yield clf, browser


def test_typing_a_review_shows_its_label_and_coloured_words(page, tmp_path):
    clf, browser = page
    browser.type("#review", "this movie is not good")
    wait_for(lambda: browser.run(LABEL) == ["negative", 5], what="the label of the first text")
    words = browser.run(WORDS)
    expected = explain(clf, "this movie is not good")
    assert [w[0] for w in words] == list(expected.tokens)
    assert [w[2] for w in words] == pytest.approx(list(expected.p_target), abs=1e-6)
    assert [w[1] for w in words] == pytest.approx(list(expected.moves), abs=1e-6)
    for token, move, _, colour in words:                  # green where it rose, red where it fell
        assert _channels(colour) == ((46, 125, 50) if move >= 0 else (198, 40, 40)), token
    assert _channels(words[3][3]) == (198, 40, 40)         # "not"
    assert "P(positive) = 0.0" in browser.run("return document.getElementById('p').textContent;")
    assert browser.run("return document.getElementById('card').textContent;").startswith("sst2")

    browser.type("#review", ", but the actors are wonderful")       # keeps typing: the page follows
    wait_for(lambda: browser.run(LABEL) == ["positive", 11], what="the label after more typing")
    assert [w[0] for w in browser.run(WORDS)][-1] == "wonderful"
    assert browser.screenshot()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_api_error_is_shown_on_the_page(page):
    clf, browser = page
    browser.run("document.getElementById('review').value = '';")
    browser.type("#review", "good " * 21)                            # over max_explain_words
    wait_for(lambda: "text has 21 words; /explain reads at most 20" in
             browser.run("return document.getElementById('error').textContent;"), what="the error message")
