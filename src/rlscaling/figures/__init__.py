"""The study's figures (PNG + PDF): the paper's set, drawn from curves.parquet and the fit JSONs.

    rlscaling figures --curves curves.parquet --fits FIT.json [...] [--params-json JSON] --out-dir DIR

Rooms: `names` plans the figure names (the Snakefile imports it, so nothing heavy is imported at import
time: drawing code imports matplotlib inside functions); `cli` is the command; `draw` draws names into
files; `base` holds what the drawers share; `loss`, `kn`, `prediction` and `trends` draw the figures.
Without --params-json the names are inferred from the fits and the curves (`infer_names`), so the
command also works standalone on imported data (e.g. the paper's CSVs).

Every requested name is written in every format; a figure whose inputs are missing (no fit for it,
one benchmark only, ...) is drawn as a labelled placeholder saying why, so a workflow never loses an
output. Bands are 95 % percentile bands over the fit's bootstrap samples.
"""

from rlscaling.figures.cli import add_arguments, main
from rlscaling.figures.draw import DRAWERS, draw_all
from rlscaling.figures.names import ALL_FIGURE_NAMES, MAIN_BENCH, PAPER_LAWS, figure_names, infer_names

__all__ = [
    "ALL_FIGURE_NAMES",
    "DRAWERS",
    "MAIN_BENCH",
    "PAPER_LAWS",
    "add_arguments",
    "draw_all",
    "figure_names",
    "infer_names",
    "main",
]
