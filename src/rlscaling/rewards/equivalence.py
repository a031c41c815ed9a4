"""Is an extracted answer equivalent to the ground truth? Cheap checks first, then math-verify, time-bounded.

Order of checks (the first that decides wins):
1. Normalised string match (`normalize_latex`): both sides equal after removing spacing commands,
   `\\left`/`\\right`, `\\dfrac`/`\\tfrac` -> `\\frac`, `\\text{...}` wrappers, degree signs, `$`,
   a trailing period, and doubled backslashes before a command name or brace (`\\\\frac` -> `\\frac`,
   as written in some guru ground truths; `undouble_backslashes`). Decides "equal" only.
2. Plain numbers (`42`, `-3.5`, `1,450,000`, `$18`): compared exactly as numbers (`numbers_equal`).
   Equal decides "equal"; unequal integers decide "not equal"; unequal numbers with a decimal point
   go on to math-verify, which accepts agreement to 6 decimals (`0.3333333` vs `0.333333`).
3. Integers and simple fractions (`\\frac{2}{4}`, `\\dfrac12`, `-3/4`): compared exactly as rationals,
   both ways (`rational_value`; property-tested to agree with math-verify).
4. math-verify (its LaTeX parser on `\\boxed{gt}` and `\\boxed{pred}`, then `verify(gold, pred)`),
   under a wall-clock bound of `timeout_s` seconds for parse + verify together. Verdicts are
   remembered per (gt, pred) pair.

Time bound of step 4 (`timeout_s`, default 1 s); answers longer than MAX_ANSWER_CHARS are not parsed:
- In the main thread of a POSIX process with no interval timer already armed, math-verify runs
  in-process under `signal.setitimer(ITIMER_REAL, timeout_s)`; the alarm raises a BaseException that
  math-verify does not swallow. After a timeout, known verdicts (CANARIES) are
  re-checked, within CANARY_LIMIT_S = 0.5 s (normally ~20 ms): an interrupt at an unlucky point (seen:
  during the first import) can leave sympy / the parser broken, and then this process switches to
  workers. So: at most timeout_s + 0.5 s. math-verify is imported and warmed up before the first
  timer starts (about 0.5-1.3 s, once per process, outside the bound). A signal cannot interrupt a
  single long C-level call: once, in a long test session, `10^{10^{10}}` hung in-process. So answers
  that could ask sympy for a huge integer (power towers, exponents of 3+ digits, factorials of 4+
  digit numbers, \\binom / \\prod / \\sum: `huge_number_risk`) always go to a worker;
  RLSCALING_REWARD_ISOLATION=process runs every check in a worker. Measured: answers asking sympy
  for huge numbers (`10^{10^{10}}`, `999999999!`, `2^{2^{40}}`, `\\binom{10^8}{5 \\cdot 10^7}`,
  `\\prod_{k=1}^{10^7} k`) return "timeout" 1.00-1.02 s after the start with timeout_s=1, from the
  main thread and from other threads alike (plus ~1 s once, for starting the first worker).
- Anywhere else (another thread, e.g. verl's reward loop, which calls the reward function through
  `run_in_executor`; a process whose interval timer is in use; Windows), the check runs in a worker
  subprocess (`rlscaling.rewards._worker`, at most min(4, CPUs) of them) which is killed with SIGKILL
  if it has not answered after timeout_s + WORKER_GRACE_S (0.5 s). This bound holds for C-level work
  too. Not counted: waiting for a free worker when more threads than workers score at once, and
  starting a worker (about 0.5-1.5 s, on first use and after a kill).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections import OrderedDict
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

from rlscaling.rewards.extract import normalize_number

MAX_ANSWER_CHARS = 1000  # longest extracted answer / ground truth handed to math-verify
# deepest {...} / (...) nesting handed to math-verify: its LaTeX parser is recursive and, nested ~100
# deep, spends seconds in code the SIGALRM timer cannot interrupt (measured 4.6 s for \frac{ x100)
MAX_NESTING = 24
# most binary operators handed to math-verify when the ground truth itself is simpler: a flat
# "1+1+...+1" of 450 terms took 3.6 s in its parser, past the timer's reach
MAX_OPERATORS = 64
VERDICT_CACHE_SIZE = 16_384  # remembered (gt, pred) verdicts (at most ~32 MB with 1000-char answers)
CANARY_LIMIT_S = 0.5  # time allowed for the canary verdicts after an in-process timeout
WORKER_GRACE_S = 0.5  # extra wait for a worker's reply before it is killed
WORKER_START_TIMEOUT_S = 60.0  # a worker that has not started in this time is an error
ISOLATION_ENV = "RLSCALING_REWARD_ISOLATION"  # "process": every math-verify check in a worker

log = logging.getLogger(__name__)


class CheckTimeout(BaseException):
    """Raised inside a bounded check when its time is up (BaseException: math-verify catches Exception)."""


# ------------------------------------------------------------------------------------------------
# 1. normalised string match

_TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_SPACING = re.compile(r"\\[,;:! ]|\\q?quad|~|\\displaystyle|\\limits")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°")
_DOUBLE_BACKSLASH_CMD = re.compile(r"\\\\(?=[A-Za-z{}])")


def undouble_backslashes(s: str) -> str:
    """`\\\\frac` -> `\\frac`, `\\\\{` -> `\\{`: a doubled backslash before a command name or a
    brace is an escaping artefact (some guru ground truths are written so), not a LaTeX line break."""
    return _DOUBLE_BACKSLASH_CMD.sub(r"\\", s)


def normalize_latex(s: str) -> str:
    """A canonical spelling of a short LaTeX answer for the cheap string match (not a parser)."""
    s = s.strip()
    s = undouble_backslashes(s)
    if len(s) >= 2 and s[0] == "$" and s[-1] == "$":
        s = s.strip("$")
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _SPACING.sub("", s)
    s = _DEGREES.sub("", s)
    for _ in range(3):
        new = _TEXT_WRAPPERS.sub(r"\1", s)
        if new == s:
            break
        s = new
    s = "".join(s.split())
    s = s.rstrip(".")
    return s


# ------------------------------------------------------------------------------------------------
# 2. plain numbers


def numbers_equal(a: str, b: str) -> bool | None:
    """Exact numeric comparison of two plain numbers; None when either side is not a plain number.

    `1,450,000` equals `1450000.`, `18.00` equals `$18`, `025` equals `25`; `3.0000001` does not
    equal `3`. (Compared as canonical decimal strings: exact at any length, no float rounding.)
    """
    na, nb = normalize_number(a), normalize_number(b)
    if na is None or nb is None:
        return None
    return na == nb


_FRACTION_RE = re.compile(
    r"(?P<s1>-?)\\frac\{(?P<n1>-?\d{1,100})\}\{(?P<d1>-?\d{1,100})\}"
    r"|(?P<s2>-?)\\frac(?P<n2>\d)(?P<d2>\d)"
    r"|(?P<n3>-?\d{1,100})/(?P<d3>-?\d{1,100})",
    re.ASCII,
)


def rational_value(s: str) -> Fraction | None:
    """The value of an integer or a simple fraction (`-\\frac{1}{2}`, `\\dfrac12`, `3/4`), else None.

    Decimals (with a point) return None: their comparison is math-verify's (6-decimal rounding).
    """
    n = normalize_number(s)
    if n is not None:
        return None if "." in n else Fraction(int(n)) if len(n) <= 1000 else None
    t = normalize_latex(s)
    m = _FRACTION_RE.fullmatch(t) if len(t) <= 250 else None
    if m is None:
        return None
    for k in "123":
        if m.group("n" + k) is not None:
            num, den = int(m.group("n" + k)), int(m.group("d" + k))
            if den == 0:
                return None
            sign = -1 if (m.groupdict().get("s" + k) == "-") else 1
            return sign * Fraction(num, den)
    return None  # pragma: no cover


# ------------------------------------------------------------------------------------------------
# 3. math-verify


# Known verdicts, checked once when math-verify is loaded (warming up its lazily built parser outside
# any time limit) and again after every in-process timeout: interrupting sympy / the LaTeX parser at an
# arbitrary point could leave shared state broken (seen when the interrupt hit the first import), and
# a wrong verdict is worse than a slower one.
CANARIES: tuple[tuple[str, str, bool], ...] = (
    ("3\\sqrt{2}", "\\sqrt{18}", True),
    ("\\frac{1}{2}", "0.5", True),
    ("x^2+2x+1", "(x+1)^2", True),
    ("(1,2]", "[1,2]", False),
    ("\\frac{1}{3}", "\\frac{1}{2}", False),
)
_VERDICTS: OrderedDict[tuple[str, str], bool] = OrderedDict()
_VERDICTS_LOCK = threading.Lock()
_state = {"in_process_ok": True}  # False once a canary failed after a timeout: use workers only


@lru_cache(maxsize=1)
def _mv() -> Any:
    """The math_verify module, imported and warmed up (call outside any time limit)."""
    import math_verify
    import math_verify.grader as grader
    import math_verify.parser as parser

    # We bound time ourselves (timeout arguments None); silence math-verify's one-time warning about it.
    parser.TIMEOUT_WARNING_SHOWN = True
    grader.TIMEOUT_WARNING_SHOWN = True
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    for gt, pred, expected in CANARIES:
        if _verify(math_verify, gt, pred) != expected:  # pragma: no cover - a broken installation
            raise RuntimeError(f"math-verify gives a wrong verdict for {gt!r} vs {pred!r}")
    return math_verify


def _config(mv: Any) -> list[Any]:
    """math-verify extraction: its LaTeX parser only (no sympy `parse_expr`, which runs `eval`)."""
    return [mv.LatexExtractionConfig()]


def _parse(mv: Any, answer: str) -> Any:
    return mv.parse("\\boxed{" + answer + "}", extraction_config=_config(mv), parsing_timeout=None)


def _verify(mv: Any, gt: str, pred: str, gold: Any = None) -> bool:
    gold = _parse(mv, gt) if gold is None else gold
    target = _parse(mv, pred)
    if not gold or not target:
        return False
    return bool(mv.verify(gold, target, timeout_seconds=None))


@lru_cache(maxsize=4096)
def _parse_gold(gt: str) -> Any:
    return _parse(_mv(), gt)


def math_verify_equal_unbounded(gt: str, pred: str) -> bool:
    """math-verify equivalence of two short answers, with no time bound of its own."""
    mv = _mv()
    return _verify(mv, gt, pred, gold=_parse_gold(gt))


def _signals_usable() -> bool:
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return False
    try:
        return signal.getitimer(signal.ITIMER_REAL)[0] == 0.0
    except (OSError, ValueError):  # pragma: no cover
        return False


def _raise_timeout(signum: int, frame: Any) -> None:
    raise CheckTimeout


def _run_with_timer(fn: Any, timeout_s: float) -> Any:
    """fn() under a SIGALRM interval timer (main thread only); raises CheckTimeout when time is up."""
    old = signal.signal(signal.SIGALRM, _raise_timeout)
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, old)


def healthy(limit_s: float = CANARY_LIMIT_S) -> bool:
    """True when math-verify still gives the CANARIES' verdicts in this process within `limit_s` seconds
    (all together; normally about 20 ms). Main thread only."""
    mv = _mv()

    def check() -> bool:
        return all(_verify(mv, gt, pred) == expected for gt, pred, expected in CANARIES)

    try:
        return bool(_run_with_timer(check, limit_s))
    except CheckTimeout:
        return False


def _in_process(gt: str, pred: str, timeout_s: float, *, check_health: bool = True) -> bool | None:
    """Bounded check in this process (main thread); None on timeout. See the module docstring.

    After a timeout, `check_health` runs `healthy()` (at most CANARY_LIMIT_S more) and switches this
    process to worker subprocesses if the verdicts went wrong.
    """
    _mv()  # import and warm up outside the timer
    try:
        return _run_with_timer(lambda: math_verify_equal_unbounded(gt, pred), timeout_s)
    except CheckTimeout:
        if check_health:
            mark_health()
        return None


def mark_health() -> bool:
    """Run the canaries; on failure use workers from now on (and forget parsed ground truths)."""
    if healthy():
        return True
    _state["in_process_ok"] = False
    _parse_gold.cache_clear()
    log.warning("math-verify state damaged by an interrupted check; using worker processes now")
    return False


def nesting_depth(s: str) -> int:
    """Deepest nesting of braces and parentheses in `s` (linear scan)."""
    depth = deepest = 0
    for ch in s:
        if ch in "{(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "})":
            depth = max(depth - 1, 0)
    return deepest


# answers that can make sympy build a huge integer in one C-level call (10^{10^{10}}, 999999999!), which
# a signal cannot interrupt: they are checked in a worker subprocess, whose kill always bounds the time
_HUGE_NUMBER = re.compile(
    r"\^\s*\{[^{}]*\^|\^\s*\w+\s*\^"  # a power tower
    r"|\^\s*\{?\s*\d{3,}"  # an exponent of 3+ digits
    r"|\*\*"  # Python-style power
    r"|\d{4,}\s*!"  # the factorial of a 4+ digit number
    r"|\\(?:binom|prod|sum)"  # binomials, products and sums with possibly huge bounds
)


def huge_number_risk(s: str) -> bool:
    """True when parsing `s` could ask sympy for a huge integer (see _HUGE_NUMBER)."""
    return _HUGE_NUMBER.search(s) is not None


def operator_count(s: str) -> int:
    """Number of binary-operator characters (+ - * / ^ =) in `s`."""
    return sum(s.count(op) for op in "+-*/^=")


def math_verify_equal(
    gt: str, pred: str, timeout_s: float = 1.0, *, isolate: bool | None = None, wait_s: float | None = None
) -> bool | None:
    """math-verify equivalence within `timeout_s` seconds; None when the time ran out.

    `isolate`: None picks in-process (main thread, signals usable) or a worker subprocess (otherwise);
    True forces the worker, False forces in-process (only valid where signals are usable).
    `wait_s`: longest wait for a free worker (None: as long as it takes); None when none came free.
    Answers longer than MAX_ANSWER_CHARS are not equal (False) without being parsed. Verdicts are
    remembered (the last VERDICT_CACHE_SIZE pairs): the rollouts of one prompt often repeat an answer.
    """
    if len(gt) > MAX_ANSWER_CHARS or len(pred) > MAX_ANSWER_CHARS:
        return False
    if nesting_depth(pred) > MAX_NESTING and nesting_depth(gt) <= MAX_NESTING:
        return False
    if operator_count(pred) > MAX_OPERATORS and operator_count(gt) <= MAX_OPERATORS:
        return False
    key = (gt, pred)
    with _VERDICTS_LOCK:
        if key in _VERDICTS:
            _VERDICTS.move_to_end(key)
            return _VERDICTS[key]
    equal = _math_verify_equal(gt, pred, timeout_s, isolate, wait_s)
    if equal is not None:  # timeouts are not remembered: a later call may have more time
        with _VERDICTS_LOCK:
            _VERDICTS[key] = equal
            if len(_VERDICTS) > VERDICT_CACHE_SIZE:
                _VERDICTS.popitem(last=False)
    return equal


def known_verdict(gt: str, pred: str) -> bool | None:
    """The remembered verdict of (gt, pred), or None when not checked yet (costs no math-verify call)."""
    with _VERDICTS_LOCK:
        return _VERDICTS.get((gt, pred))


def clear_caches() -> None:
    """Forget remembered verdicts and parsed ground truths (in this process; workers keep theirs)."""
    with _VERDICTS_LOCK:
        _VERDICTS.clear()
    _parse_gold.cache_clear()


def _math_verify_equal(
    gt: str, pred: str, timeout_s: float, isolate: bool | None, wait_s: float | None = None
) -> bool | None:
    if isolate is None:
        isolate = (
            os.environ.get(ISOLATION_ENV, "auto") == "process"
            or not _state["in_process_ok"]
            or not _signals_usable()
            or huge_number_risk(pred)
            or huge_number_risk(gt)
        )
    if not isolate:
        try:
            return _in_process(gt, pred, timeout_s)
        except ValueError:  # signals refused (e.g. a sub-interpreter): use a worker
            pass
    return _POOL.check(gt, pred, timeout_s, wait_s)


# ------------------------------------------------------------------------------------------------
# worker subprocesses (for threads and other places where signals cannot bound the check)


class _Worker:
    """One `python -m rlscaling.rewards._worker` process: JSON lines in, JSON lines out."""

    def __init__(self) -> None:
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rlscaling.rewards._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            bufsize=1,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        try:
            ready = self.lines.get(timeout=WORKER_START_TIMEOUT_S)
        except queue.Empty:
            self.kill()
            raise RuntimeError(
                f"rlscaling reward worker did not start in {WORKER_START_TIMEOUT_S} s"
            ) from None
        if ready.strip() != "ready":
            self.kill()
            raise RuntimeError(f"rlscaling reward worker failed to start: {ready!r}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")  # EOF

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:  # pragma: no cover
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass

    def close(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=2)
        except Exception:  # noqa: BLE001
            self.kill()

    def check(self, gt: str, pred: str, timeout_s: float) -> bool | None:
        """The worker's answer, None on timeout (the worker is then killed: check `alive()`)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"gt": gt, "pred": pred, "timeout_s": timeout_s}) + "\n")
        self.proc.stdin.flush()
        try:
            line = self.lines.get(timeout=timeout_s + WORKER_GRACE_S)
        except queue.Empty:
            self.kill()
            return None
        if not line:  # the worker died (e.g. out of memory)
            self.kill()
            return None
        return json.loads(line)["equal"]


class _Pool:
    """Up to `size` workers shared by all threads; created lazily, replaced after a kill.

    `idle` holds free workers, or None for a free slot whose worker has to be (re)started.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.pid = os.getpid()
        # LIFO: a running worker is reused before an empty slot starts another process
        self.idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        for _ in range(self.size):
            self.idle.put(None)
        self.all: list[_Worker] = []

    def _acquire(self, wait_s: float | None = None) -> _Worker | None:
        """A live worker; None when none came free within `wait_s` seconds (None: wait as long as it
        takes). A free slot without a worker (first use) starts one here."""
        with self.lock:
            if self.pid != os.getpid():  # forked: the parent's pipes are not ours
                self._reset()
            idle = self.idle
        try:
            w = idle.get(timeout=None if wait_s is None else max(0.0, wait_s))
        except queue.Empty:
            return None
        if w is not None and w.alive():
            return w
        try:
            w = _Worker()
        except BaseException:
            idle.put(None)
            raise
        with self.lock:
            self.all.append(w)
        return w

    def _release(self, w: _Worker) -> None:
        with self.lock:
            if w.alive():
                self.idle.put(w)
                return
            if w in self.all:
                self.all.remove(w)
            idle = self.idle
        self._respawn(idle)

    def _respawn(self, idle: queue.LifoQueue[_Worker | None]) -> None:
        """Start the replacement of a killed worker in the background (its ~0.5-1.5 s start-up overlaps
        the caller's next answers instead of delaying the next check); it joins `idle` when ready."""

        def start() -> None:
            try:
                w = _Worker()
            except BaseException:  # noqa: BLE001 - the slot stays free; the next user starts one
                idle.put(None)
                return
            with self.lock:
                current = idle is self.idle and self.pid == os.getpid()
                if current:
                    self.all.append(w)
            if current:
                idle.put(w)
            else:  # the pool was shut down or forked meanwhile
                w.close()

        threading.Thread(target=start, name="rlscaling-reward-worker-start", daemon=True).start()

    def check(self, gt: str, pred: str, timeout_s: float, wait_s: float | None = None) -> bool | None:
        """The worker's verdict; None on timeout, or when no worker came free within `wait_s`."""
        w = self._acquire(wait_s)
        if w is None:
            return None
        try:
            return w.check(gt, pred, timeout_s)
        except (OSError, ValueError):  # broken pipe or garbled reply: the worker is unusable
            w.kill()
            return None
        finally:
            self._release(w)

    def shutdown(self) -> None:
        """Stop every worker (at exit; the pool starts new ones if used again)."""
        with self.lock:
            workers = self.all
            mine = self.pid == os.getpid()
            self._reset()
        if mine:
            for w in workers:
                w.close()


_POOL = _Pool(size=max(1, min(4, os.cpu_count() or 1)))
atexit.register(_POOL.shutdown)
