"""Assertions shared by the tests of the lab checks."""


def assert_passes(check, answer, capsys, exercise):
    """The check accepts ``answer`` and prints ✓ for ``exercise``."""
    assert check(answer)
    printed = capsys.readouterr().out
    assert printed.startswith(f"✓ {exercise}"), printed


def assert_rejected(check, answer, capsys, *hint_words):
    """The check rejects ``answer`` with ✗, no traceback, and every hint word."""
    assert not check(answer)
    printed = capsys.readouterr().out
    assert printed.startswith("✗") and "Traceback" not in printed, printed
    for word in hint_words:
        assert word in printed, f"{word!r} not in {printed!r}"
