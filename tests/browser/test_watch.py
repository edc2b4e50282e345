"""The watch every browser test runs under catches what it is there to catch."""

from __future__ import annotations

import pytest

from tests.browser.conftest import TabFactory
from tests.conftest import eventually


async def test_the_watch_reports_other_origins_console_errors_unchecked_pages_and_axe_violations(
    tabs: TabFactory,
) -> None:
    tab = await tabs()
    await tab.goto("/healthz", audit=False)
    await tab.page.evaluate(
        """() => {
            console.error('a deliberate error');
            const img = new Image();
            img.src = 'http://198.51.100.7/pixel.png';
            document.body.append(img);
        }"""
    )

    await eventually(lambda: tab.watch.foreign)
    problems = tab.watch.problems()
    assert "request to another origin: http://198.51.100.7/pixel.png" in problems
    assert any("a deliberate error" in problem for problem in problems), problems
    assert "page loaded but never checked with axe-core: /healthz" in problems

    # A JSON answer shown as a page, with an image without text: axe-core names what is wrong.
    with pytest.raises(AssertionError, match="image-alt") as failed:
        await tab.audit()
    assert "document-title" in str(failed.value) and "html-has-lang" in str(failed.value)

    # What was provoked on purpose is let go, so the watch passes at the end.
    tab.watch.foreign.clear()
    tab.watch.errors.clear()
    assert tab.watch.problems() == []
