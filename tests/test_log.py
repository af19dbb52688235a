"""The console handler of the `vae_tune` logger: the `vae-tune: ...` lines users see."""

import logging

from vae_tune.log import logger, show_on_console


def test_an_exception_logged_keeps_its_traceback(capsys):
    show_on_console()

    def score():
        raise ValueError("the probe is empty")

    try:
        score()
    except ValueError:
        logger.exception("scoring failed")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "vae-tune: error: scoring failed"
    assert lines[1] == "Traceback (most recent call last):"
    assert any('raise ValueError("the probe is empty")' in line for line in lines)  # the frame that raised
    assert lines[-1] == "ValueError: the probe is empty"


def test_plain_lines_stay_one_line(capsys):
    show_on_console()
    logger.info("5 images ready")
    logger.log(logging.WARNING, "no intact checkpoint left")
    assert capsys.readouterr().out == "vae-tune: 5 images ready\nvae-tune: warning: no intact checkpoint left\n"
