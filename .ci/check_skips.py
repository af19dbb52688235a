"""Fail CI when a test skipped for a reason other than a missing browser or a missing GPU.

CI runs with ../shared present and every test dependency installed, so any other
skip hides a test that did not run. Reads the JUnit XML report pytest writes with
--junitxml: `python .ci/check_skips.py REPORT.xml`. A test that skips for want of
Chromium or a GPU says so in its reason: "needs Chromium ..." or "needs a GPU ...".
"""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ElementTree

ALLOWED_REASONS = ("needs Chromium", "needs a GPU")


def skips(report_path: str) -> list[tuple[str, str]]:
    """(test, reason) of every skipped test in a pytest JUnit XML report; expected failures are not skips."""
    found = []
    for case in ElementTree.parse(report_path).getroot().iter("testcase"):
        for skipped in case.iter("skipped"):
            if skipped.get("type") != "pytest.xfail":
                found.append((f"{case.get('classname')}::{case.get('name')}", _reason(skipped)))
    return found


def _reason(skipped: ElementTree.Element) -> str:
    """A skip's reason. A whole module skipped at collection (a module-level pytest.skip or importorskip)
    has the message "collection skipped" and its reason in the text: ('path', line, 'Skipped: reason')."""
    message = skipped.get("message", "")
    if message != "collection skipped":
        return message
    try:
        _, _, reason = ast.literal_eval(skipped.text or "")
    except (ValueError, SyntaxError, TypeError):
        return skipped.text or message
    return str(reason).removeprefix("Skipped: ")


def unexpected(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The skips CI must not have: any reason but a missing browser or GPU."""
    return [(test, reason) for test, reason in found if not reason.startswith(ALLOWED_REASONS)]


def main(argv: list[str]) -> int:
    found = skips(argv[0])
    bad = unexpected(found)
    for test, reason in bad:
        print(f"skipped in CI: {test}: {reason}", file=sys.stderr)
    print(f"skips: {len(found)}, allowed (no browser, no GPU): {len(found) - len(bad)}, not allowed: {len(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
