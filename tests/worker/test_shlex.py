"""go-shlex posix splitting (docs/compat.md §4.5)."""

import pytest

from tunasync.worker.shlex import split


def test_spec_exec_hook_example():
    cmd = "bash -c 'echo ${TUNASYNC_JOB_EXIT_STATUS} > ${TUNASYNC_WORKING_DIR}/exit_status'"
    assert split(cmd) == ["bash", "-c", "echo ${TUNASYNC_JOB_EXIT_STATUS} > ${TUNASYNC_WORKING_DIR}/exit_status"]


@pytest.mark.parametrize(
    "text,words",
    [
        ("a  b\tc\n", ["a", "b", "c"]),
        ("a '' b", ["a", "b"]),  # Go drops empty words; Python's shlex keeps ''
        ('""', []),
        (r'"a \"q\" \\ \n"', ['a "q" \\ \\n']),  # only \" and \\ escape inside double quotes
        (r"a\ b", ["a b"]),
        ("'$HOME' \"$HOME\" $HOME", ["$HOME", "$HOME", "$HOME"]),  # no expansion
        ("x'y'\"z\"", ["xyz"]),
        ("# not a comment", ["#", "not", "a", "comment"]),
        ("--rsh=ssh -i /k", ["--rsh=ssh", "-i", "/k"]),
    ],
)
def test_split(text, words):
    assert split(text) == words


@pytest.mark.parametrize("text", ["'unclosed", '"unclosed', "trailing\\"])
def test_unclosed_is_an_error(text):
    with pytest.raises(ValueError):
        split(text)


def test_go_unicode_spaces_separate_words():
    # anmitsu/go-shlex shlex.go: DefaultTokenizer.IsWhitespace is unicode.IsSpace (Go's unicode/graphic.go:
    # '\t', '\n', '\v', '\f', '\r', ' ', U+0085, U+00A0 and the White_Space property), not Python's isspace
    assert split("rsync\u00a0-av\u2003src\x0bdst\x85x") == ["rsync", "-av", "src", "dst", "x"]
    assert split("a\x1cb") == ["a\x1cb"]  # a separator control character that Python calls space, Go does not
