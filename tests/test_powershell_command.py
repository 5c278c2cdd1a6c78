"""The PowerShell command line: argv shape, hostile values, the exact Windows command line (pure)."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.powershell.command import (
    HOST_OPTIONS,
    WINDOWS_COMMAND_LINE_LIMIT,
    Interpreter,
    argument_problem,
    command_line_problem,
    parse_version,
    quote_windows_argument,
    script_argv,
    windows_command_line,
)
from tests.powershell_standin import bind_file_arguments

PWSH = Interpreter(r"C:\Program Files\PowerShell\7\pwsh.exe", True)
HOSTILE = [
    "",
    " ",
    "plain",
    "two words",
    'say "hi"',
    "it's",
    "$(Remove-Item C:\\ -Recurse)",
    "a; Stop-Computer",
    "`$env:PATH`",
    "line one\nline two\r\nline three",
    "tab\tand\vvertical\fform",
    "--",
    "-Force",
    "-Other:",
    "-Other:value",
    "–en-dash",
    "$true",
    "false",
    "C:\\path\\ends\\with\\",
    'trailing backslash before quote\\"',
    '\\\\server\\share\\"quoted"\\',
    '"',
    '""',
    "\\",
    "& calc.exe | more > out.txt < in.txt ^ %PATH% !x!",
    "Ünïcödé 名前 😀",
    "\u00a0non-breaking\u2028separator\u3000ideographic",
]


# ---- a reference splitter: how the C runtime (and .NET) turn a command line back into argv --------

def split_windows(line: str, *, doubled_quote_rule: bool) -> list[str]:
    """The documented MSVC rules; ``doubled_quote_rule``: "" inside quotes is a literal quote (post-2008)."""
    args, i = [], 0
    program, i = _program_name(line)
    args.append(program)
    while True:
        while i < len(line) and line[i] in " \t":
            i += 1
        if i >= len(line):
            return args
        arg, i = _one_argument(line, i, doubled_quote_rule)
        args.append(arg)


def _program_name(line: str) -> tuple[str, int]:
    if line.startswith('"'):
        end = line.index('"', 1)
        return line[1:end], end + 1
    end = next((i for i, char in enumerate(line) if char in " \t"), len(line))
    return line[:end], end


def _one_argument(line: str, i: int, doubled_quote_rule: bool) -> tuple[str, int]:
    out, quoted = [], False
    while i < len(line) and (quoted or line[i] not in " \t"):
        backslashes = 0
        while i < len(line) and line[i] == "\\":
            backslashes, i = backslashes + 1, i + 1
        if i < len(line) and line[i] == '"':
            out.append("\\" * (backslashes // 2))
            if backslashes % 2:
                out.append('"')
            elif quoted and doubled_quote_rule and line[i + 1:i + 2] == '"':
                out.append('"')
                i += 1
            else:
                quoted = not quoted
            i += 1
        else:
            out.append("\\" * backslashes)
            if i < len(line) and (quoted or line[i] not in " \t"):
                out.append(line[i])
                i += 1
    return "".join(out), i


# ---- argv -------------------------------------------------------------------------------------------

def test_each_parameter_is_two_arguments_of_its_own_after_the_host_options():
    argv = script_argv(PWSH, r"C:\Scripts\New User.ps1", [("FirstName", "Ada"), ("Note", "-Force; $(x)")])
    assert argv == [PWSH.path, "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
                    "-File", r"C:\Scripts\New User.ps1", "-FirstName:", "Ada", "-Note:", "-Force; $(x)"]
    assert tuple(argv[1:5]) == HOST_OPTIONS


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_bind_literally_by_powershells_file_rules(value):
    argv = script_argv(PWSH, r"C:\s.ps1", [("Value", value), ("After", "x")])
    bound, positional = bind_file_arguments(argv[argv.index("-File") + 2:])
    assert bound == {"Value": value, "After": "x"} and positional == []


def test_the_naive_forms_would_not_bind_literally():
    """Why the runner uses ``-Name:`` + value: the other forms change hostile values."""
    assert bind_file_arguments(["-Value", "-Force"])[0] == {"Value": True, "Force": True}
    assert bind_file_arguments(["-Value:$true"])[0] == {"Value": True}
    assert bind_file_arguments(["-Value", "--"])[0] != {"Value": "--"}


# ---- the exact Windows command line ---------------------------------------------------------------------

@pytest.mark.parametrize("value", HOSTILE)
def test_the_windows_command_line_splits_back_into_exactly_the_argv(value):
    argv = script_argv(PWSH, r"C:\Scripts\My Scripts\x.ps1", [("Value", value)])
    line = windows_command_line(argv)
    assert split_windows(line, doubled_quote_rule=True) == argv
    assert split_windows(line, doubled_quote_rule=False) == argv


@pytest.mark.parametrize("value", [v for v in HOSTILE if not any(c.isspace() and c not in " \t" for c in v)])
def test_it_is_list2cmdline_exactly_where_list2cmdline_is_safe(value):
    argv = script_argv(PWSH, r"C:\Scripts\x.ps1", [("Value", value)])
    assert windows_command_line(argv) == subprocess.list2cmdline(argv)


def test_newlines_and_other_whitespace_are_quoted_where_list2cmdline_leaves_them_bare():
    assert subprocess.list2cmdline(["a\nb"]) == "a\nb"  # what the runner must not send
    assert quote_windows_argument("a\nb") == '"a\nb"'
    assert quote_windows_argument("a\u3000b") == '"a\u3000b"'


def test_exact_command_lines_for_hostile_values():
    table = [
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\dir\\", "C:\\dir\\"),
        ("C:\\my dir\\", '"C:\\my dir\\\\"'),
        ('\\"', '\\\\\\"'),
        ("", '""'),
        ("$(x); y", '"$(x); y"'),
        ("--", "--"),
    ]
    for value, expected in table:
        assert quote_windows_argument(value) == expected, value


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                        max_size=30), max_size=6))
def test_any_text_round_trips_through_the_windows_command_line(values):
    argv = [PWSH.path, *values]
    line = windows_command_line(argv)
    assert split_windows(line, doubled_quote_rule=True) == argv
    assert split_windows(line, doubled_quote_rule=False) == argv


# ---- what cannot be passed -----------------------------------------------------------------------------

@pytest.mark.parametrize("value, fragment", [
    ("a\x00b", "NUL"),
    ("a\ud800b", "unpaired surrogate"),
])
def test_values_no_command_line_can_carry_are_refused_with_a_reason(value, fragment):
    assert fragment in argument_problem("Name", value)


@pytest.mark.parametrize("value", [v for v in HOSTILE])
def test_hostile_but_passable_values_are_not_refused(value):
    assert argument_problem("Name", value) is None


def test_a_command_line_over_the_windows_limit_is_refused():
    argv = script_argv(PWSH, r"C:\s.ps1", [("Long", "x" * WINDOWS_COMMAND_LINE_LIMIT)])
    problem = command_line_problem(argv)
    assert "too long for a Windows command line" in problem and "32,767" in problem
    assert command_line_problem(script_argv(PWSH, r"C:\s.ps1", [("Short", "x" * 1000)])) is None


@pytest.mark.parametrize("output, version", [
    ("7.4.6\n", "7.4.6"),
    ("5.1.19041.4291\r\n", "5.1.19041.4291"),
    ("7.5.0-preview.3\n", "7.5.0-preview.3"),
    ("\nMajor  Minor  Build  Revision\n-----  -----  -----  --------\n", None),
    ("", None),
])
def test_parse_version(output, version):
    assert parse_version(output) == version
