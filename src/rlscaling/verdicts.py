"""Three-valued verdicts: what a study's data decide about a claim, at 95% confidence.

A claim says that a quantity lies above (or below) a line: "the RL gain is above 0", "the slope of
final L on log10 N is below 0", "K_max is above 0". Given the quantity's estimate and its 95%
interval, `judge` returns one of

- pass: the data support the claim: the interval lies wholly on the claimed side of the line (and,
  where the claim says so, the estimate reaches `estimate_line`);
- FAIL: the data contradict the claim: the interval lies wholly on the other side of `fail_line`
  (the line itself unless the claim names another);
- undetermined: the data cannot decide: the interval straddles the line, there is no interval (one
  run per size), or an end that would decide is cut by an optimizer bound. (A bootstrap interval of
  zero width, every resample agreeing because there are too few units to resample, is no interval
  either: `fit_k_max_above_zero` and `identified` read it from a fit's interval flags.)

An interval end at an optimizer bound is where the optimizer stopped, not where the data put it: the
true end lies beyond the bound. Such an end never decides. An interval cut by a bound is never
FAIL: the bound, not the data, may be what keeps it on the wrong side. It can still pass when its
other end, set by the data, clears the line (K_max [0.14, 2] with 2 the bound: K_max above 0 passes).

"Identified" is a claim like the others (`identified`): a fit's K_max and N0 are identified when
each has a 95% interval of non-zero width, clear of the optimizer's bounds. Pass, or undetermined
(more replicates or a wider span of N decide it); a bound never makes it FAIL.

`combine` folds verdicts of one claim over several parts (sizes, fits): FAIL when any part FAILs,
pass when every part passes, else undetermined. NOT_APPLICABLE ("n/a") marks a check the study
cannot pose at all (no step-0 evaluations for a gain, no fit estimating K_max); it is no verdict.

Pure functions, no I/O: summary.md's checks (rlscaling.report), `rlscaling report --check`, the
power simulation (rlscaling.fit.power) and `rlscaling robustness` all judge through them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

PASS = "pass"
FAIL = "FAIL"
UNDETERMINED = "undetermined"
NOT_APPLICABLE = "n/a"
VERDICTS = (PASS, FAIL, UNDETERMINED)
# estimate comparisons forgive floating-point rounding: 0.300 - 0.250 is 0.04999... as a float
TOLERANCE = 1e-9
# a parameter's interval flag kinds (FIT.json interval_flags, rlscaling.fit.identify)
AT_BOUND_KINDS = ("estimate_at_bound", "ci_at_bound")
ZERO_WIDTH_KIND = "zero_width"


@dataclass(frozen=True)
class Claim:
    """A quantity lies `direction` ("above" / "below") `line`.

    fail_line: the line the whole interval must lie beyond, on the wrong side, for FAIL (default:
    `line`). estimate_line: pass also needs the point estimate on the claimed side of it (default:
    no such need). The RL gain claim, for instance, is: above 0 with 95% confidence, estimated at
    0.05 or more, and FAIL only when the interval lies wholly below 0.05."""

    quantity: str
    direction: Literal["above", "below"]
    line: float
    fail_line: float | None = None
    estimate_line: float | None = None

    def __post_init__(self) -> None:
        if self.direction not in ("above", "below"):
            raise ValueError(f"Claim {self.quantity!r}: direction {self.direction!r} (above or below)")
        for name in ("line", "fail_line", "estimate_line"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"Claim {self.quantity!r}: {name} {value!r} is not a finite number")
        # pass and FAIL must exclude each other: a FAIL interval (and its estimate) lies wholly
        # short of fail_line, so one of the pass lines must lie at or past it
        if self.fail_line is not None:
            sign = 1.0 if self.direction == "above" else -1.0
            pass_lines = [v for v in (self.line, self.estimate_line) if v is not None]
            if all(sign * (self.fail_line - v) > 0 for v in pass_lines):
                raise ValueError(
                    f"Claim {self.quantity!r}: fail_line {self.fail_line} lies past every pass line "
                    f"{pass_lines} on the claimed side, so one interval could both pass and FAIL"
                )

    @property
    def text(self) -> str:
        """The claim in words, e.g. 'gain above 0'."""
        return f"{self.quantity} {self.direction} {self.line:g}"


@dataclass(frozen=True)
class Verdict:
    """A verdict (PASS / FAIL / UNDETERMINED) and the reason in a few words."""

    verdict: str
    reason: str


def _finite(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def _near(value: float, edge: float | None, scale: float) -> bool:
    return edge is not None and math.isfinite(edge) and abs(value - edge) <= 1e-6 * max(scale, 1e-12)


def judge(
    claim: Claim,
    estimate: float | None,
    interval: Sequence[float] | None,
    *,
    bounds: tuple[float | None, float | None] | None = None,
    cut_low: bool = False,
    cut_high: bool = False,
) -> Verdict:
    """The verdict of `claim` on an estimate and its 95% interval [lo, hi] (see the module doc).

    bounds: the optimizer's (lower, upper) bound of the quantity, None where it has none; an interval
    end within 1e-6 of the bounded range's width of a bound is cut by it. cut_low / cut_high: the
    lower / upper end is known to be cut (e.g. from a fit's interval flags). Returns a Verdict whose
    reason quotes the interval."""
    est = _finite(estimate)
    if interval is None or len(interval) != 2 or any(_finite(v) is None for v in interval):
        return Verdict(UNDETERMINED, "no 95% interval")
    lo, hi = float(interval[0]), float(interval[1])
    if lo > hi:
        raise ValueError(f"{claim.quantity}: interval [{lo}, {hi}] has its ends reversed")
    shown = f"95% interval [{lo:+.3g}, {hi:+.3g}]"
    if bounds is not None:
        b_lo, b_hi = bounds
        scale = (b_hi - b_lo) if b_lo is not None and b_hi is not None else max(abs(lo), abs(hi), 1.0)
        cut_low = cut_low or _near(lo, b_lo, scale)
        cut_high = cut_high or _near(hi, b_hi, scale)
    above = claim.direction == "above"
    fail_line = claim.line if claim.fail_line is None else claim.fail_line
    # the end that would show support, and the end that would show contradiction
    pass_end, pass_cut = (lo, cut_low) if above else (hi, cut_high)
    fail_end = hi if above else lo
    supports = pass_end > claim.line if above else pass_end < claim.line
    contradicts = fail_end < fail_line if above else fail_end > fail_line
    if claim.estimate_line is not None:
        reach = est is not None and (
            est >= claim.estimate_line - TOLERANCE if above else est <= claim.estimate_line + TOLERANCE
        )
    else:
        reach = True
    side = "above" if above else "below"
    other = "below" if above else "above"
    if supports and not pass_cut and reach:
        return Verdict(PASS, f"{shown} wholly {side} {claim.line:g}")
    if contradicts and not (cut_low or cut_high):
        return Verdict(FAIL, f"{shown} wholly {other} {fail_line:g}")
    if supports and pass_cut:
        end = "lower" if above else "upper"
        return Verdict(UNDETERMINED, f"{shown}: its {end} end is the optimizer's bound, not the data's")
    if contradicts:
        return Verdict(UNDETERMINED, f"{shown} is cut by the optimizer's bound, so it cannot contradict")
    if supports and not reach:
        estimate_text = "missing" if est is None else f"{est:+.3g}"
        return Verdict(
            UNDETERMINED, f"{shown} {side} {claim.line:g}, but the estimate {estimate_text} is not {side} "
            f"{claim.estimate_line:g}"
        )
    fail_text = f" (FAIL needs it wholly {other} {fail_line:g})" if fail_line != claim.line else ""
    return Verdict(UNDETERMINED, f"{shown} straddles {claim.line:g}{fail_text}")


def combine(verdicts: Iterable[str]) -> str:
    """One verdict over a claim's parts: FAIL if any part FAILs, pass if every part passes (and there
    is one), else undetermined. NOT_APPLICABLE parts are left out; all of them: NOT_APPLICABLE."""
    judged = [v for v in verdicts if v != NOT_APPLICABLE]
    unknown = [v for v in judged if v not in VERDICTS]
    if unknown:
        raise ValueError(f"not a verdict: {unknown[0]!r} (expected one of {VERDICTS + (NOT_APPLICABLE,)})")
    if not judged:
        return NOT_APPLICABLE
    if FAIL in judged:
        return FAIL
    return PASS if all(v == PASS for v in judged) else UNDETERMINED


def cut_ends(param: str, estimate: Any, flags: Iterable[Mapping[str, Any]]) -> tuple[bool, bool, bool]:
    """(lower end cut, upper end cut, zero width) of a parameter's interval from a fit's interval flags
    ({param, kind, bound, ...}, rlscaling.fit.identify.interval_flags). A bound at or below the
    estimate cuts the lower end, one above it the upper end."""
    low = high = zero = False
    est = _finite(estimate)
    for f in flags:
        if not isinstance(f, Mapping) or f.get("param") != param:
            continue
        if f.get("kind") == ZERO_WIDTH_KIND:
            zero = True
        elif f.get("kind") in AT_BOUND_KINDS:
            bound = _finite(f.get("bound"))
            if bound is None or est is None:
                low = high = True
            elif bound <= est:
                low = True
            else:
                high = True
    return low, high, zero


def identified(
    intervals: Mapping[str, Sequence[float] | None], flags: Iterable[Mapping[str, Any]]
) -> Verdict:
    """The claim "the fit identifies these parameters": pass when each (name -> 95% interval) has a
    finite interval and no interval flag names it (an end or the estimate at an optimizer bound, or
    zero width: the flags rlscaling.fit.identify.interval_flags writes); undetermined otherwise,
    naming what is missing or flagged. Never FAIL: a bound or a missing interval is a lack of data,
    not a contradiction."""
    flags = [f for f in flags if isinstance(f, Mapping)]
    problems = []
    for name, ci in intervals.items():
        if ci is None or len(ci) != 2 or any(_finite(v) is None for v in ci):
            problems.append(f"{name} has no 95% interval")
            continue
        for f in flags:
            if f.get("param") == name:
                bound = _finite(f.get("bound"))
                where = "" if bound is None else f" (bound {bound:.4g})"
                problems.append(f"{name} {f.get('kind')}{where}")
    if problems:
        return Verdict(UNDETERMINED, "; ".join(problems))
    return Verdict(PASS, ", ".join(f"{n} [{ci[0]:.3g}, {ci[1]:.3g}]" for n, ci in intervals.items()))


# --------------------------------------------------------------------------------------------------
# claims on a fit (a FIT.json dict: params, ci95, interval_flags)

# the fit parameters whose intervals must stay clear of the optimizer's bounds
IDENTIFIED_PARAMS = ("K_max", "N0")
# k(N) = K_max N / (N + N0) rises with N when K_max > 0
K_MAX_ABOVE_ZERO = Claim("K_max", "above", 0.0)


def fit_param(fit: Mapping[str, Any], *names: str) -> tuple[Any, Any]:
    """(estimate, [lo, hi] or None) of a fit parameter under the first of `names` the fit has."""
    params = fit.get("params") if isinstance(fit.get("params"), Mapping) else {}
    ci = fit.get("ci95") if isinstance(fit.get("ci95"), Mapping) else {}
    for n in names:
        if n in params or n in ci:
            return params.get(n), ci.get(n)
    return None, None


def _flags(fit: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    flags = fit.get("interval_flags")
    return [f for f in flags if isinstance(f, Mapping)] if isinstance(flags, list) else []


def fit_identified(fit: Mapping[str, Any]) -> Verdict:
    """`identified` on a fit's K_max and N0 (intervals from ci95, flags from interval_flags)."""
    return identified({p: fit_param(fit, p)[1] for p in IDENTIFIED_PARAMS}, _flags(fit))


def fit_k_max_above_zero(fit: Mapping[str, Any]) -> Verdict:
    """K_MAX_ABOVE_ZERO judged on a fit's K_max: an end its interval flags put at a bound never decides,
    a zero-width interval is undetermined. K_max's optimizer bound is 0 from below, so the law alone
    can never contradict the claim (see rlscaling.report: the runs' own slopes can)."""
    k, ci = fit_param(fit, "K_max")
    low, high, zero = cut_ends("K_max", k, _flags(fit))
    if zero:
        return Verdict(UNDETERMINED, "K_max's 95% interval has zero width: every resample agreed")
    return judge(K_MAX_ABOVE_ZERO, k, ci, cut_low=low, cut_high=high)
