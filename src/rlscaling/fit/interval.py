"""Prediction intervals for a curve not yet run: an unseen size, or the later steps of a run.

The law is the paper's, log10 L = -k(N) log10 X + E0, fitted on the runs you have (`train`). A
target curve of size N is predicted at its x values, with the level E0 set by the target's own
known points when there are any (its *anchors*: a pre-RL evaluation, its first logged step, or,
for later steps of a run, the steps already done):

    y(x) = ybar_a - k(N) (log10 x - lbar_a)        (ybar_a, lbar_a: mean log10 L, log10 X of the anchors)

and by E0(N) of the fit when there are none (law paper-parametric; the paper law extrapolates its
per-size E0 by a line in log10 N). All variances below are in log10 L units^2.

Every error a new run has is drawn, and the interval is the percentile band of the draws:

- **parameters** (`param`): the fit is refitted on bootstrap draws of `train`: by curve (a Bayesian
  bootstrap, Dirichlet weights per curve: refit_draws), or by seed within a size where a seed column
  has replicates (bootstrap.resolve_unit); each refit gives its own k(N) (and E0(N)), hence its own
  line through the anchors.
- **slope of a new size** (`slope`): no size follows k(N) exactly. Each fitted curve's own
  least-squares slope k_i scatters around the fit's k(N_i) (slope_scatter: a robust scale, the median
  of the squared deviations less the slopes' sampling variances, so that one odd curve among 3-6 sizes
  does not set it, times n / (n - 2) for the 2 parameters of k(N)). A new curve's slope is a new draw,
  k(N) + s t, with t Student's t on n - 2 degrees of freedom (the scale is itself estimated from n
  curves), which moves the prediction by s t (log10 x - lbar_a). With >= 3 own points (the steps a
  run has done), the curve's own slope is combined with k(N) by precision (own_slope): its prior
  scatter is s, or the curve's own excess deviation from k(N) where that is larger.
- **bend beyond the known points** (`curvature`): with a window of >= 3 own points (the steps a run
  has done), the curve keeps bending after it: c (log10 x - log10 x_last)^2 beyond the window, c
  drawn with the rms log-log curvature of the fitted curves (curvature_scatter).
- **level** (`level`): with anchors, the anchors' own noise, var_point(L_a) / K_eff (K_eff = K
  (1 - rho) / (1 + rho), rho the lag-1 autocorrelation of the fit's residuals along a curve), or,
  larger where the fitted curves show it, the mean square by which their first K points miss their
  own line (an early-step bend of the curves, in-sample). Without anchors, tau^2: the scatter of the
  fitted curves' own intercepts around E0(N) (a new size is a new draw of it).
- **point noise** (`point`): one evaluation of L is a mean over samples x problems: binomial,
  var(L) = L (1 - L) / n, with n = samples x problems where known (IntervalOptions.n_trials), else n
  fitted to the residuals of `train`'s points around their own curve's line (residual_noise).
- **seeds** (`seed`): where replicate runs exist (a `seed` or `replicate` column), the spread of L
  between replicates at one (size, step), beyond the point noise, as an extra binomial-shaped term.

Draws: n_boot refits x n_noise normal draws of the other terms at every x. The point prediction
is the full fit's line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlscaling.curves_table import REPLICATE_COLUMNS
from rlscaling.errors import UserError
from rlscaling.fit import kn
from rlscaling.fit.bootstrap import bootstrap, resolve_unit
from rlscaling.fit.data import CurveSet

LEVELS = (0.8, 0.95)
LN10 = math.log(10.0)
# median of a chi-square with 1 degree of freedom: robust scale of squared normal residuals
_CHI2_1_MEDIAN = 0.4549364231195724
COMPONENTS = ("param", "slope", "curvature", "level", "point", "seed")


@dataclass(frozen=True)
class IntervalOptions:
    """law: 'paper' or 'paper-parametric'; n_boot: bootstrap refits (parameter uncertainty);
    n_noise: normal draws of the other terms per refit; n_trials: samples x problems of one
    evaluation (binomial point noise; None: from the residuals); unit: bootstrap unit (auto, curve,
    seed)."""

    law: str = "paper-parametric"
    objective: str = kn.DEFAULT_OBJECTIVE
    n_boot: int = 200
    n_noise: int = 25
    seed: int = 0
    unit: str = "auto"
    n_trials: float | None = None
    levels: tuple[float, ...] = LEVELS

    def check(self) -> None:
        if self.law not in ("paper", "paper-parametric"):
            raise UserError(f"--law {self.law!r}: expected paper or paper-parametric")
        if self.n_boot < 20:
            raise UserError(f"--bootstrap {self.n_boot}: at least 20 refits are needed for a 95% interval")
        if self.n_trials is not None and not self.n_trials >= 1:
            raise UserError(f"--trials {self.n_trials}: samples x problems must be >= 1")
        for lv in self.levels:
            if not 0 < lv < 1:
                raise UserError(f"interval level {lv}: expected a number in (0, 1)")


@dataclass
class NoiseModel:
    """Variance of one evaluation of L (one run, one step): L (1 - L) (1 / n_eval + 1 / n_seed).

    source: 'binomial' (n_eval = samples x problems) or 'residual' (n_eval fitted to the law's
    residuals); n_seed: effective trials of the seed spread beyond the point noise (inf: no
    replicates, or no spread beyond it); rho: lag-1 autocorrelation of residuals along a curve."""

    source: str
    n_eval: float
    n_seed: float = math.inf
    rho: float = 0.0

    def var_L(self, L: np.ndarray, seed: bool = True) -> np.ndarray:
        """Variance of L (L units^2), shape of L."""
        L = np.clip(np.asarray(L, dtype=float), 1e-6, 1 - 1e-6)
        inv = 1.0 / self.n_eval + (1.0 / self.n_seed if seed else 0.0)
        return L * (1 - L) * inv

    def var_log10(self, L: np.ndarray, seed: bool = True, point: bool = True) -> np.ndarray:
        """Variance of log10 L (delta method), shape of L; point / seed select the terms."""
        L = np.clip(np.asarray(L, dtype=float), 1e-6, 1 - 1e-6)
        inv = (1.0 / self.n_eval if point else 0.0) + (1.0 / self.n_seed if seed else 0.0)
        return (1 - L) / L * inv / LN10**2

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "n_eval": self.n_eval,
            "n_seed": None if math.isinf(self.n_seed) else self.n_seed,
            "lag1_autocorrelation": self.rho,
        }


@dataclass
class Prediction:
    """The predicted curve of one target: x (n,), L (n,) the point prediction, bands[level] =
    (lo, hi) arrays (n,), sd_log10[component] (n,) the spread each error source adds (log10 units),
    and what was estimated on the way (params, noise, slope_sd: the scale of a new slope's draw in
    decades of L per decade of X, level_sd, anchors)."""

    N: float
    x: np.ndarray
    L: np.ndarray
    bands: dict[float, tuple[np.ndarray, np.ndarray]]
    sd_log10: dict[str, np.ndarray]
    params: dict[str, Any]
    noise: NoiseModel
    slope_sd: float
    level_sd: float
    anchors: dict[str, Any] | None
    n_boot_ok: int
    unit: str
    law: str
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "N": self.N,
            "law": self.law,
            "x": self.x.tolist(),
            "L": self.L.tolist(),
            "intervals": {
                f"{lv:g}": {"lo": lo.tolist(), "hi": hi.tolist()} for lv, (lo, hi) in self.bands.items()
            },
            "sd_log10": {k: v.tolist() for k, v in self.sd_log10.items()},
            "params": self.params,
            "error_sources": {
                "noise": self.noise.to_json(),
                "slope_sd": self.slope_sd,
                "level_sd": self.level_sd,
                "bootstrap": {"unit": self.unit, "n_ok": self.n_boot_ok},
            },
            "anchors": self.anchors,
            "notes": self.notes,
        }


# --------------------------------------------------------------------------------------------------
# error-source estimates (pure functions of the fit and its data)


def curve_residuals(model: kn.KnFit, train: CurveSet) -> np.ndarray:
    """Residuals (log10 L, shape (n,)) of every point around its own curve's line: slope k(N) of the
    fit, intercept the curve's own mean of log10 L + k(N) log10 X (so a size's level scatter around
    E0(N), a separate error source, is not counted as point noise)."""
    z = np.log10(train.L) + model.k(train.N) * np.log10(train.X)
    e0 = np.bincount(train.curve, z, train.n_curves) / np.bincount(train.curve, minlength=train.n_curves)
    return z - e0[train.curve]


def residual_noise(model: kn.KnFit, train: CurveSet) -> NoiseModel:
    """Point noise from the residuals around each curve's own line (curve_residuals): n_eval =
    chi2_1 median / median(r_L^2 / (L (1 - L))), r_L the residual in L units (robust to a few bad
    points), and the residuals' lag-1 autocorrelation along a curve."""
    res = curve_residuals(model, train)
    L = np.clip(train.L, 1e-6, 1 - 1e-6)
    r_L = L * (1.0 - 10.0 ** (-res))  # L minus the line's L
    med = float(np.median(r_L**2 / (L * (1 - L))))
    n_eval = _CHI2_1_MEDIAN / med if med > 0 else 1e9
    return NoiseModel("residual", n_eval, math.inf, lag1_autocorrelation(res, train))


def lag1_autocorrelation(res: np.ndarray, cs: CurveSet) -> float:
    """Pooled lag-1 autocorrelation of residuals res (n,) along the curves of cs (points sorted by
    step within a curve), each curve's residuals centred; clipped to [0, 0.95]."""
    num = den = 0.0
    for i in range(cs.n_curves):
        r = res[cs.curve == i]
        if r.size < 3:
            continue
        r = r - r.mean()
        num += float(np.sum(r[1:] * r[:-1]))
        den += float(np.sum(r * r))
    return float(np.clip(num / den, 0.0, 0.95)) if den > 0 else 0.0


def seed_spread(cs: CurveSet, noise: NoiseModel) -> NoiseModel:
    """Add the between-replicate spread: curves equal in every key but seed / replicate / run are
    replicates; at every (group, step) with >= 2 of them the sample variance of L is compared to L
    (1 - L). 1 / n_seed = the pooled ratio less the point noise's 1 / n_eval (kept >= 0)."""
    if not cs.keys or not any(k in cs.keys[0] for k in REPLICATE_COLUMNS):
        return noise
    groups: dict[tuple, list[int]] = {}
    for i, k in enumerate(cs.keys):
        g = tuple((c, str(v)) for c, v in k.items() if c not in (*REPLICATE_COLUMNS, "run"))
        groups.setdefault(g, []).append(i)
    num = den = 0.0
    for members in groups.values():
        if len(members) < 2:
            continue
        by_step: dict[float, list[float]] = {}
        for i in members:
            m = cs.curve == i
            for s, L in zip(cs.step[m], cs.L[m], strict=True):
                by_step.setdefault(float(s), []).append(float(L))
        for vals in by_step.values():
            if len(vals) >= 2:
                v = np.array(vals)
                mu = float(np.clip(v.mean(), 1e-6, 1 - 1e-6))
                num += float(np.var(v, ddof=1)) * (len(v) - 1)
                den += mu * (1 - mu) * (len(v) - 1)
    if den <= 0:
        return noise
    inv = num / den - 1.0 / noise.n_eval
    n_seed = 1.0 / inv if inv > 0 else math.inf
    return NoiseModel(noise.source, noise.n_eval, n_seed, noise.rho)


def slope_scatter(model: kn.KnFit, train: CurveSet) -> tuple[float, int]:
    """(s, n): the scatter s (slope units: decades of L per decade of X) of the fitted curves' own
    log-log slopes k_i around k(N_i), and the number n of curves it is measured on. s^2 is the median
    over curves of (k_i - k(N_i))^2 less the slope's sampling variance (floored at 0), over the median
    of a chi-square with 1 degree of freedom (a robust variance: one curve that runs its own way, as
    Qwen2.5 base 1.5B does at twice k(N), does not set it), times n / (n - 2) for the two parameters
    of k(N) fitted to these curves. Curves with < 3 points or one x are skipped; (0, n) for n < 3."""
    d2 = []
    for i in range(train.n_curves):
        m = train.curve == i
        lx, y = np.log10(train.X[m]), np.log10(train.L[m])
        if lx.size < 3 or np.ptp(lx) <= 0:
            continue
        A = np.stack([np.ones_like(lx), lx], axis=1)
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        res = y - A @ coef
        s2 = float(res @ res) / max(lx.size - 2, 1)
        sxx = float(np.sum((lx - lx.mean()) ** 2))
        d2.append(max(0.0, (-coef[1] - float(model.k(train.curve_N[i]))) ** 2 - s2 / sxx))
    n = len(d2)
    if n < 3:
        return 0.0, n
    return float(math.sqrt(float(np.median(d2)) / _CHI2_1_MEDIAN * n / (n - 2))), n


def own_slope(
    la: np.ndarray, ya: np.ndarray, k_law: float, s: float, rho: float
) -> tuple[float, float, float]:
    """(w, k_own, s_post): a curve's own points (log10 X la, log10 L ya, >= 3 of them) against the
    law's slope k_law with scatter s. k_own is their least-squares slope, se^2 its sampling variance
    (inflated by (1 + rho) / (1 - rho) for residuals correlated along the curve); the curve's own
    prior scatter is s, or its excess deviation sqrt((k_own - k_law)^2 - se^2) where larger (a
    positive-part empirical Bayes estimate: a curve that plainly runs its own way keeps its slope).
    The slope used is (1 - w) k_law + w k_own, w = prior / (prior + se^2), with posterior sd s_post."""
    lbar = float(la.mean())
    A = np.stack([np.ones_like(la), la - lbar], axis=1)
    coef, *_ = np.linalg.lstsq(A, ya, rcond=None)
    r = ya - A @ coef
    s2 = float(r @ r) / max(la.size - 2, 1)
    se2 = s2 / float(np.sum((la - lbar) ** 2)) * (1 + rho) / max(1 - rho, 1e-3)
    k_own = -float(coef[1])
    prior = max(s**2, (k_own - k_law) ** 2 - se2)
    if prior <= 0:
        return 0.0, k_own, 0.0
    w = prior / (prior + se2)
    return float(w), k_own, float(math.sqrt(prior * se2 / (prior + se2)))


def curvature_scatter(train: CurveSet) -> float:
    """s_c: rms curvature (decades of L per decade of X squared) of the fitted curves in log-log:
    each curve's quadratic coefficient c_i of log10 L on log10 X, mean square less its sampling
    variance. A straight line through a window of a curve that bends misses the curve beyond the
    window by c q(x) (window_curvature_lever). Curves with < 5 points are skipped."""
    c2, se2 = [], []
    for i in range(train.n_curves):
        m = train.curve == i
        lx, y = np.log10(train.X[m]), np.log10(train.L[m])
        if lx.size < 5 or np.unique(lx).size < 4:
            continue
        u = lx - lx.mean()
        A = np.stack([np.ones_like(u), u, u**2], axis=1)
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        res = y - A @ coef
        s2 = float(res @ res) / max(lx.size - 3, 1)
        cov = s2 * np.linalg.pinv(A.T @ A)
        c2.append(float(coef[2]) ** 2)
        se2.append(float(cov[2, 2]))
    if not c2:
        return 0.0
    return float(math.sqrt(max(0.0, float(np.mean(c2)) - float(np.mean(se2)))))


def window_curvature_lever(l_window: np.ndarray, lx: np.ndarray) -> np.ndarray:
    """q(lx) = (lx - max(l_window))^2 beyond the window's last log10 X, 0 inside it: the miss, per
    unit curvature, of a line that matches the curve at the end of its window (where a run's
    points, even in steps, crowd in log X) when the curve keeps bending beyond it."""
    return np.clip(lx - float(np.max(l_window)), 0.0, None) ** 2


def anchor_miss(model: kn.KnFit, train: CurveSet, k: int) -> float | None:
    """Root mean square (log10 units) by which the fitted curves' first k points miss their own
    line (k(N) of the fit, intercept from their other points); None when no curve has > k + 2
    points."""
    miss = []
    for i in range(train.n_curves):
        m = np.flatnonzero(train.curve == i)
        if m.size < k + 3:
            continue
        order = m[np.argsort(train.step[m], kind="stable")]
        a, rest = order[:k], order[k:]
        kk = float(model.k(train.curve_N[i]))
        z = np.log10(train.L) + kk * np.log10(train.X)
        miss.append(float(np.mean(z[a]) - np.mean(z[rest])))
    return float(math.sqrt(np.mean(np.square(miss)))) if miss else None


def intercept_scatter(model: kn.KnFit, train: CurveSet) -> float:
    """tau: rms of the fitted curves' own intercepts (mean of log10 L + k(N) log10 X) around E0(N)."""
    z = np.log10(train.L) + model.k(train.N) * np.log10(train.X)
    e0 = np.bincount(train.curve, z, train.n_curves) / np.bincount(train.curve, minlength=train.n_curves)
    u = e0 - np.asarray(model.E0_of_N(train.curve_N), dtype=float)
    return float(math.sqrt(np.mean(u**2)))


# --------------------------------------------------------------------------------------------------
# bootstrap refits


@dataclass(frozen=True)
class _SlopeLevel:
    """Picklable bootstrap refit: CurveSet -> {'k/i': k(N_i), 'E0/i': E0(N_i)} at the target sizes."""

    law: str
    objective: str
    Ns: tuple[float, ...]
    x0: tuple[float, float]

    def __call__(self, cs: CurveSet, curve_weights: np.ndarray | None = None) -> dict[str, float]:
        m = kn.fit_kn(
            cs,
            law=self.law,
            objective=self.objective,
            x0=np.array(self.x0),
            grid=False,
            curve_weights=curve_weights,
        )
        out = {}
        for i, N in enumerate(self.Ns):
            out[f"k/{i}"] = float(m.k(N))
            out[f"E0/{i}"] = float(m.E0_of_N(N))
        return out


def refit_draws(
    train: CurveSet, fn: _SlopeLevel, n: int, seed: int, unit: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Parameter draws: (k (n_ok, T), E0 (n_ok, T), n_failed) at fn's T target sizes.

    unit 'curve': a Bayesian bootstrap by curve (Rubin 1981): every refit weighs the curves by
    Dirichlet(1, ..., 1) weights, so each draw keeps every size (an ordinary curve bootstrap of 3-6
    sizes often drops the largest ones, and its refits extrapolate from the small sizes alone).
    unit 'seed': bootstrap.bootstrap's draw of seeds within each size."""
    T = len(fn.Ns)
    if unit == "curve":
        rng = np.random.default_rng(np.random.SeedSequence([seed, 104729]))
        rows, failed = [], 0
        for _ in range(n):
            w = rng.dirichlet(np.ones(train.n_curves))
            try:
                rows.append(fn(train, w))
            except (UserError, ValueError, FloatingPointError, np.linalg.LinAlgError):
                failed += 1
        names = [f"{p}/{i}" for p in ("k", "E0") for i in range(T)]
        vals = np.array([[r[c] for c in names] for r in rows], dtype=float).reshape(len(rows), 2 * T)
        return vals[:, :T], vals[:, T:], failed
    boot = bootstrap(fn, train, n, seed=seed, unit=unit)
    if boot.values.size == 0:
        return np.zeros((0, T)), np.zeros((0, T)), boot.n_failed
    k = np.stack([boot.values[:, boot.names.index(f"k/{i}")] for i in range(T)], axis=1)
    e = np.stack([boot.values[:, boot.names.index(f"E0/{i}")] for i in range(T)], axis=1)
    return k, e, boot.n_failed


def check_train(train: CurveSet) -> None:
    """UserError when train cannot support a prediction with an interval: at least 3 sizes (two fix
    K_max and N0 exactly and leave no scatter to measure) with >= 3 points each."""
    sizes = np.unique(train.curve_N)
    if sizes.size < 3:
        raise UserError(
            f"a prediction interval needs curves of at least 3 sizes to fit from; got {sizes.size} "
            f"({', '.join(sorted(set(train.labels)))})"
        )
    short = [train.labels[i] for i in range(train.n_curves) if np.sum(train.curve == i) < 3]
    if short:
        raise UserError(f"curve(s) {short} have fewer than 3 points to fit (need >= 3 per curve)")


@dataclass
class Target:
    """A curve to predict: size N (parameters), x (the law's X, shape (n,)) and optionally its
    known points (anchor_x, anchor_L, shape (K,)) that set its level."""

    N: float
    x: np.ndarray
    anchor_x: np.ndarray | None = None
    anchor_L: np.ndarray | None = None

    def check(self) -> None:
        x = np.asarray(self.x, dtype=float)
        if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)) or (x <= 0).any():
            raise UserError("the x values to predict at must be a non-empty list of positive numbers")
        if not self.N > 0:
            raise UserError(f"target size N = {self.N}: must be > 0 parameters")
        if self.anchor_x is not None and np.size(self.anchor_x):
            ax, aL = np.asarray(self.anchor_x, float), np.asarray(self.anchor_L, float)
            if aL.shape != ax.shape:
                raise UserError("anchors: as many L values as x values are needed")
            if (ax <= 0).any() or (aL <= 0).any() or (aL > 1).any():
                raise UserError("anchors: x must be > 0 and L in (0, 1]")


def predict_curve(
    train: CurveSet,
    N: float,
    x: np.ndarray,
    anchor_x: np.ndarray | None = None,
    anchor_L: np.ndarray | None = None,
    opts: IntervalOptions | None = None,
) -> Prediction:
    """Predict the curve of size N (parameters) at x (the law's X, shape (n,)) from the curves in
    train, with the anchors (the target's known points, shape (K,)) setting its level when given.
    Returns the point prediction and the opts.levels intervals (module doc)."""
    return predict_curves(train, [Target(N, x, anchor_x, anchor_L)], opts)[0]


def predict_curves(
    train: CurveSet, targets: list[Target], opts: IntervalOptions | None = None
) -> list[Prediction]:
    """predict_curve for several targets sharing one fit and one bootstrap of train."""
    opts = opts or IntervalOptions()
    opts.check()
    check_train(train)
    for t in targets:
        t.check()
    model = kn.fit_kn(train, law=opts.law, objective=opts.objective)
    notes: list[str] = []
    unit = resolve_unit(train, opts.unit, "curve")
    Ns = tuple(float(t.N) for t in targets)
    fn = _SlopeLevel(opts.law, opts.objective, Ns, (model.K_max, float(np.log10(model.N0))))
    k_draws, e_draws, n_failed = refit_draws(train, fn, opts.n_boot, opts.seed, unit)
    if k_draws.shape[0] < 20:
        raise UserError(
            f"only {k_draws.shape[0]} of {opts.n_boot} bootstrap refits succeeded; the data cannot "
            "support an interval"
        )
    if n_failed:
        notes.append(f"{n_failed} bootstrap draw(s) could not be fitted")
    noise = residual_noise(model, train)
    if opts.n_trials is not None:
        noise = NoiseModel("binomial", float(opts.n_trials), math.inf, noise.rho)
    noise = seed_spread(train, noise)
    s_k, n_slopes = slope_scatter(model, train)
    s_c = curvature_scatter(train)
    tau = intercept_scatter(model, train)
    miss_cache: dict[int, float | None] = {}
    lx_train = float(np.mean(np.log10(train.X)))
    out = []
    for i, t in enumerate(targets):
        kb, eb = k_draws[:, i], e_draws[:, i]
        ok = np.isfinite(kb) & np.isfinite(eb)
        kb, eb = kb[ok], eb[ok]
        x = np.asarray(t.x, dtype=float)
        lx = np.log10(x)
        k_hat = float(model.k(t.N))
        K = 0 if t.anchor_x is None else int(np.size(t.anchor_x))
        if K:
            la, ya = np.log10(np.asarray(t.anchor_x, float)), np.log10(np.asarray(t.anchor_L, float))
            lbar, ybar = float(la.mean()), float(ya.mean())
            w, k_own, s_t = 0.0, k_hat, s_k
            if K >= 3 and np.ptp(la) > 0:  # a window of the curve's own steps: its own slope counts
                w, k_own, s_t = own_slope(la, ya, k_hat, s_k, noise.rho)
            y_hat = ybar - ((1 - w) * k_hat + w * k_own) * (lx - lbar)
            # each refit's line through the anchors
            y_boot = ybar - ((1 - w) * kb + w * k_own)[:, None] * (lx[None, :] - lbar)
            k_eff = max(1.0, K * (1 - noise.rho) / (1 + noise.rho))
            var_level = float(np.mean(noise.var_log10(10.0**ya))) / k_eff
            if K not in miss_cache:
                miss_cache[K] = anchor_miss(model, train, K)
            miss = miss_cache[K]
            if miss is not None and miss**2 > var_level:
                var_level = miss**2
            level_sd = math.sqrt(var_level)
            anchors = {
                "x": (10.0**la).tolist(),
                "L": (10.0**ya).tolist(),
                "K": K,
                "K_eff": k_eff,
                "miss_rms": miss,
            }
            dl = lx - lbar
            # a window of the target's own points: beyond it the curve bends away from any line
            q = window_curvature_lever(la, lx) if K >= 3 else np.zeros_like(lx)
        else:
            y_hat = -k_hat * lx + float(model.E0_of_N(t.N))
            y_boot = -kb[:, None] * lx[None, :] + eb[:, None]
            s_t = s_k
            level_sd = tau
            anchors = None
            dl = lx - lx_train  # a new size's own slope pivots about the fitted curves' centre
            q = np.zeros_like(lx)
        L_hat = 10.0**y_hat
        var_point = noise.var_log10(L_hat, seed=False)
        var_seed = noise.var_log10(L_hat, point=False)
        # draws: every refit x n_noise draws of the slope, level, point and seed terms (the point
        # noise is drawn once per draw for all x: each x's marginal band is what is reported)
        rng = np.random.default_rng(np.random.SeedSequence([opts.seed, 7919, i]))
        nb, m = y_boot.shape[0], opts.n_noise
        z = rng.standard_normal((5, nb, m, 1))
        z[0] = rng.standard_t(max(n_slopes - 2, 1), (nb, m, 1))  # the slope: its scale is estimated
        draws = (
            y_boot[:, None, :]
            + s_t * z[0] * dl[None, None, :]
            + s_c * z[4] * q[None, None, :]
            + level_sd * z[1]
            + np.sqrt(var_point)[None, None, :] * z[2]
            + np.sqrt(var_seed)[None, None, :] * z[3]
        ).reshape(nb * m, -1)
        bands = {}
        target_notes = list(notes)
        for lv in opts.levels:
            pct = np.percentile(draws, [50 * (1 - lv), 50 * (1 + lv)], axis=0)
            lo, hi = 10.0 ** pct[0], 10.0 ** pct[1]
            unbounded = hi > 1.0  # L = 1 - pass@1 cannot exceed 1
            if unbounded.any():
                target_notes.append(
                    f"the {lv:.0%} interval reaches L = 1 (pass@1 0) at {int(unbounded.sum())} of "
                    f"{unbounded.size} points: the data do not bound it from above there, and its "
                    "upper end is written as 1"
                )
            bands[lv] = (lo, np.minimum(hi, 1.0))
        sd = {
            "param": np.std(y_boot, axis=0),
            "slope": s_t * np.abs(dl),
            "curvature": s_c * np.abs(q),
            "level": np.full(x.size, level_sd),
            "point": np.sqrt(var_point),
            "seed": np.sqrt(var_seed),
        }
        params = {
            "K_max": model.K_max,
            "N0": model.N0,
            "k": k_hat,
            "k_ci95": [float(np.percentile(kb, 2.5)), float(np.percentile(kb, 97.5))],
            "E0_of_N": float(model.E0_of_N(t.N)),
            "intercept_scatter": tau,
            "curvature_sd": s_c,
        }
        out.append(
            Prediction(
                float(t.N),
                x,
                L_hat,
                bands,
                sd,
                params,
                noise,
                s_t,
                level_sd,
                anchors,
                int(kb.size),
                unit,
                opts.law,
                target_notes,
            )
        )
    return out


# --------------------------------------------------------------------------------------------------
# scores


def interval_score(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, level: float) -> np.ndarray:
    """Gneiting & Raftery's (2007) interval score of central (level) intervals [lo, hi] for
    observations y, per point (units of y; lower is better): width plus 2 / alpha times the
    distance by which y falls outside, alpha = 1 - level."""
    y, lo, hi = (np.asarray(a, dtype=float) for a in (y, lo, hi))
    a = 1.0 - level
    return (hi - lo) + (2.0 / a) * np.clip(lo - y, 0, None) + (2.0 / a) * np.clip(y - hi, 0, None)
