"""Draw figures by name into a folder, every name in every format; a figure whose inputs are missing is
a labelled placeholder saying why, so the workflow never loses an output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlscaling.figures.base import _Context, _Unavailable
from rlscaling.figures.kn import _E0_of_N, _k_of_N
from rlscaling.figures.loss import _loss_vs_x, _pass1_vs_step, _transfer
from rlscaling.figures.names import MAIN_BENCH
from rlscaling.figures.prediction import _prediction
from rlscaling.figures.trends import _gain, _reuse, _sigmoid


def draw_all(
    curves: Any,
    fits: list[dict[str, Any]],
    names: list[str],
    out_dir: Path,
    *,
    formats: list[str],
    dpi: int = 150,
    bench: str = MAIN_BENCH,
) -> list[Path]:
    """Draw `names` into out_dir in every format; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rlscaling.io import atomic_path

    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = _Context(curves, fits, bench)
    written = []
    for name in names:
        try:
            fig = DRAWERS[name](ctx)
        except _Unavailable as why:
            fig = _placeholder(name, str(why))
        for fmt in formats:
            path = out_dir / f"{name}.{fmt}"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
            written.append(path)
        plt.close(fig)
    return written


def _placeholder(name: str, why: str) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.2))
    ax.axis("off")
    ax.text(0.5, 0.6, name, ha="center", va="center", fontsize=13, weight="bold")
    ax.text(0.5, 0.3, f"not available: {why}", ha="center", va="center", fontsize=10, wrap=True)
    return fig


DRAWERS = {
    "loss_vs_C": lambda ctx: _loss_vs_x(ctx, "C"),
    "loss_vs_D": lambda ctx: _loss_vs_x(ctx, "D"),
    "pass1_vs_step": _pass1_vs_step,
    "transfer": _transfer,
    "k_of_N": _k_of_N,
    "E0_of_N": _E0_of_N,
    "intra_prediction_C": lambda ctx: _prediction(ctx, "intra", "C"),
    "intra_prediction_D": lambda ctx: _prediction(ctx, "intra", "D"),
    "inter_prediction_C": lambda ctx: _prediction(ctx, "inter", "C"),
    "inter_prediction_D": lambda ctx: _prediction(ctx, "inter", "D"),
    "sigmoid": _sigmoid,
    "gain": _gain,
    "reuse": _reuse,
}
