"""Assertions shared by the tests of the lab checks."""


def assert_passes(check, answer, capsys, exercise, *args, **kwargs):
    """The check accepts ``answer`` and prints ✓ for ``exercise``; ``args`` and
    ``kwargs`` go to the check after the answer (e.g. the learner's runs)."""
    assert check(answer, *args, **kwargs)
    printed = capsys.readouterr().out
    assert printed.startswith(f"✓ {exercise}"), printed
    return printed


def assert_rejected(check, answer, capsys, *hint_words, absent=(), args=()):
    """The check rejects ``answer`` with ✗, no traceback, and every hint word;
    none of the ``absent`` words (a hint must not accuse the learner of a mistake
    they did not make)."""
    assert not check(answer, *args)
    printed = capsys.readouterr().out
    assert printed.startswith("✗") and "Traceback" not in printed, printed
    for word in hint_words:
        assert word in printed, f"{word!r} not in {printed!r}"
    for word in absent:
        assert word not in printed, f"{word!r} in {printed!r}"
    return printed


def assert_verdict_line(check, answer, capsys, *args, **kwargs):
    """The check prints exactly one ✓ or ✗ line, never a traceback; returns
    (passed, line)."""
    passed = bool(check(answer, *args, **kwargs))
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert len(lines) == 1, printed
    assert lines[0][:1] == ("✓" if passed else "✗"), printed
    assert "Traceback" not in printed, printed
    return passed, lines[0]
