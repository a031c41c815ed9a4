"""Answer extraction from model responses (pure string work, linear time, no evaluation of model text).

Every function here takes the (untrusted) response text and returns the extracted answer as a string,
or None when the response has no answer of the requested kind. All scans are linear in the input
length (regular expressions without nested quantifiers, a single brace-matching pass with a length
cap), so extraction of a response of L characters costs O(L).

Numbers
-------
A "number" is an optionally signed integer or decimal of ASCII digits, optionally with a `$` sign and
comma thousands separators: `42`, `-7`, `1,450,000`, `$18`, `-$5`, `3.50`, `.5`, `−3` (unicode minus).
A trailing period ("... is 18.") is not part of the number. A minus right after a letter, digit or
closing bracket is a binary minus, not a sign (`5-3` holds 5 and 3). Digits joined by commas that are
not thousands groups are a list (`(1,2)` holds 1 and 2; `1,0000` holds 1 and 0000). Exponent notation
is not a number here: `1e5` holds 1 and 5, as in verl's GSM8K extractor.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# A number token: a run of digits and commas (a decimal part allowed), with an optional sign and `$`.
# The run is matched whole, so `1,0000` or `1,2` never splits into a thousands number plus digits; it is
# then read as one number when its commas are thousands separators (`1,450,000`), else as a list of
# numbers (`(1,2)` -> 1 and 2). A sign counts only where it cannot be a binary minus (`5-3` -> 5, 3).
# Every quantifier is over disjoint character classes, so matching is linear in the text length.
_RUN = r"\d(?:[\d,]*\d)?(?:\.\d+)?|\.\d+"
NUMBER_RE = re.compile(
    r"(?<![\d.])(?<!\d,)"  # not inside a digit run
    r"(?:(?<![\w)\]}])(?P<sign>[-−])\s?)?"
    r"(?:(?P<dollar>\\?\$\s?)(?P<sign2>[-−])?)?"
    r"(?P<run>" + _RUN + r")",
    re.ASCII,  # ASCII digits only: `\d` would also match other scripts' digits
)
_THOUSANDS_RE = re.compile(r"\d{1,3}(?:,\d{3})+", re.ASCII)
_PLAIN_NUMBER_RE = re.compile(
    r"\s*(?:[-−]\s?)?(?:\\?\$\s?)?[-−]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)\.?\s*", re.ASCII
)
_BOX_TOKEN_RE = re.compile(r"[^\s$]+")  # `\boxed 5`: the token after the space

MARKER = "####"
MAX_GAP = 100  # most whitespace characters read between `####` / `\boxed` and what follows
BOXED_COMMANDS = ("\\boxed", "\\fbox")
MAX_BOXED_CANDIDATES = 20  # how many \boxed occurrences (from the end) are tried before giving up


def normalize_number(text: str) -> str | None:
    """Canonical decimal string of a number (`"$1,450,000."` -> `"1450000"`), or None.

    Removes `$` (also `\\$`), thousands separators, spaces and a trailing period, maps the unicode
    minus to `-`, and drops leading zeros and trailing zeros of a fraction (`"3.50"` -> `"3.5"`,
    `"18.00"` -> `"18"`, `"025"` -> `"25"`). Returns None when `text` is not exactly one number.
    """
    if len(text) > 1000 or not _PLAIN_NUMBER_RE.fullmatch(text):
        return None
    t = text.strip().replace("\\$", "").replace("$", "").replace(",", "").replace(" ", "")
    t = t.replace("−", "-").rstrip(".")
    neg = t.count("-") % 2 == 1
    t = t.replace("-", "")
    if "." in t:
        t = t.rstrip("0").rstrip(".")
    t = t.lstrip("0") or "0"
    if t.startswith("."):
        t = "0" + t
    if t == "0":
        neg = False
    return ("-" if neg else "") + t


def number_value(text: str) -> Decimal | None:
    """The value of a number as a Decimal (see `normalize_number`), or None."""
    n = normalize_number(text)
    if n is None:
        return None
    try:
        return Decimal(n)
    except InvalidOperation:  # pragma: no cover - the regex admits only decimal digits
        return None


def _token_numbers(m: re.Match[str]) -> list[str]:
    """The numbers of one NUMBER_RE match, as written (a list when its commas are not thousands)."""
    sign = "-" if (m.group("sign") or m.group("sign2")) else ""
    run = m.group("run")
    if "," not in run:
        return [sign + run]
    int_part, dot, frac = run.partition(".")
    if _THOUSANDS_RE.fullmatch(int_part):
        return [sign + run]
    parts = [p for p in int_part.split(",") if p]
    parts[-1] += dot + frac
    return [sign + parts[0], *parts[1:]]


def _number_after(response: str, pos: int) -> str | None:
    """The number starting at `pos` after at most MAX_GAP whitespace characters, or None."""
    limit = min(len(response), pos + MAX_GAP)
    while pos < limit and response[pos].isspace():
        pos += 1
    m = NUMBER_RE.match(response, pos)
    return None if m is None else _token_numbers(m)[0]


def extract_strict(response: str) -> str | None:
    """The number right after the last `####` marker followed by one (GSM8K format), else None.

    Markers are tried from the end; each `rfind` continues where the previous one stopped, so the
    scan is linear.
    """
    end = len(response)
    while True:
        pos = response.rfind(MARKER, 0, end)
        if pos < 0:
            return None
        n = _number_after(response, pos + len(MARKER))
        if n is not None:
            return n
        end = pos + len(MARKER) - 1  # an overlapping `#####` is tried too


_LETTER_RE = re.compile(r"[A-Za-z]")
TAIL_WINDOW = 512  # flexible scans the last characters first (see `extract_flexible`)


def _last_number_match(response: str, start: int = 0) -> re.Match[str] | None:
    last = None
    for m in NUMBER_RE.finditer(response, start):
        last = m
    return last


def extract_flexible(response: str) -> str | None:
    """The last number anywhere in the response, or None when it contains no number.

    Scans tail windows first (512, 4096, ... characters), each starting at a letter: no number token
    contains a letter, so a scan from there finds exactly the tokens a scan of the whole response
    finds after that point (lookbehinds see the text before it). The result is the same as a full
    scan, in time proportional to the tail that has to be read.
    """
    window = TAIL_WINDOW
    while window < len(response):
        letter = _LETTER_RE.search(response, len(response) - window)
        if letter is None:
            break
        m = _last_number_match(response, letter.start())
        if m is not None:
            return _token_numbers(m)[-1]
        window *= 8
    m = _last_number_match(response)
    return None if m is None else _token_numbers(m)[-1]


def extract_custom_flexible(response: str) -> str | None:
    """Flexible extraction on the response cut at the first `####` marker.

    When a number follows the first marker (after optional whitespace / `$`), the response is cut right
    after that number, so that number is the answer, whatever its length (6+ digit answers are kept
    whole). When no number follows, the response is cut at the marker and its last number is the
    answer. Without a marker this is `extract_flexible`.
    """
    pos = response.find(MARKER)
    if pos == -1:
        return extract_flexible(response)
    n = _number_after(response, pos + len(MARKER))
    return n if n is not None else extract_flexible(response[:pos])


def has_marker_answer(response: str) -> bool:
    """True when the response contains `#### <number>` (the GSM8K answer format)."""
    return extract_strict(response) is not None


def _match_braces(text: str, start: int, max_chars: int) -> int:
    """Index of the `}` closing the `{` at `start`, or -1 (unbalanced or longer than max_chars).

    `\\{` and `\\}` are escaped braces and do not count.
    """
    depth = 0
    i = start
    end = min(len(text), start + max_chars + 2)
    while i < end:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def extract_boxed(response: str, max_chars: int = 1000) -> str | None:
    """Content of the last complete `\\boxed{...}` (or `\\fbox{...}`, `\\boxed 5`), nested braces handled.

    Occurrences are tried from the end; an empty box, or one not closed within `max_chars` characters,
    is skipped for the one before it (at most MAX_BOXED_CANDIDATES tries, so the cost is
    O(len(response) + MAX_BOXED_CANDIDATES * max_chars)). Returns None when no box qualifies.
    """
    end = len(response)
    for _ in range(MAX_BOXED_CANDIDATES):
        pos = max(response.rfind(cmd, 0, end) for cmd in BOXED_COMMANDS)
        if pos < 0:
            break
        cmd_len = len("\\boxed") if response.startswith("\\boxed", pos) else len("\\fbox")
        i = pos + cmd_len
        # a longer command name (\boxedfoo) is not a box
        if i < len(response) and response[i].isalpha():
            end = pos
            continue
        limit = min(len(response), i + MAX_GAP)
        while i < limit and response[i] in " \t":
            i += 1
        if i < len(response) and response[i] == "{":
            close = _match_braces(response, i, max_chars)
            if close == -1:
                end = pos
                continue
            content = response[i + 1 : close].strip()
            if content:
                return content
        elif i > pos + cmd_len:  # `\boxed 5`: the token after the space
            m = _BOX_TOKEN_RE.match(response[i : i + max_chars + 1])
            if m:
                return m.group(0).rstrip(".")
        end = pos
    return None
