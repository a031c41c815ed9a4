"""A study's verdicts on disk, read back: its checks.json (written beside summary.md), else the Checks
table of its summary.md; for `rlscaling report --check` and rlscaling.robustness."""

from __future__ import annotations

from pathlib import Path

from rlscaling import verdicts
from rlscaling.errors import UserError
from rlscaling.io import read_json_object


def verdicts_file(path: str | Path) -> Path:
    """The file holding a study's verdicts: `path` itself, or in a study folder its checks.json, else
    its summary.md. UserError when there is none."""
    path = Path(path)
    if path.is_dir():
        found = [p for p in (path / "checks.json", path / "summary.md") if p.is_file()]
        if not found:
            raise UserError(f"--check: {path} has neither checks.json nor summary.md (run the study first)")
        return found[0]
    if not path.is_file():
        raise UserError(f"--check: {path} does not exist")
    return path


def read_checks(path: str | Path) -> list[tuple[str, str, str]]:
    """(check, verdict, detail) rows of a study's verdicts. path: a study folder (its checks.json,
    else its summary.md), a checks.json, or a summary.md (its Checks table). UserError when there is
    none or a verdict is not one of pass / FAIL / undetermined / n/a."""
    path = verdicts_file(path)
    rows = _read_checks_json(path) if path.suffix == ".json" else _read_checks_md(path)
    known = (*verdicts.VERDICTS, verdicts.NOT_APPLICABLE)
    for check, verdict, _ in rows:
        if verdict not in known:
            raise UserError(f"{path}: check {check!r} has verdict {verdict!r}, expected one of {known}")
    return rows


def _read_checks_json(path: Path) -> list[tuple[str, str, str]]:
    obj = read_json_object(path)
    entries = obj.get("checks")
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{path}: no `checks` list (not a checks.json written by rlscaling report?)")
    rows = []
    for i, e in enumerate(entries):
        fields = ("check", "verdict", "detail")
        if not isinstance(e, dict) or not all(isinstance(e.get(k), str) for k in fields):
            raise UserError(f"{path}: checks[{i}] needs string fields check, verdict and detail")
        rows.append((e["check"], e["verdict"], e["detail"]))
    return rows


def _read_checks_md(path: Path) -> list[tuple[str, str, str]]:
    text = path.read_text()
    if "\n## Checks\n" not in text:
        raise UserError(f"{path}: no '## Checks' section (not a summary.md written by rlscaling report?)")
    body = text.split("\n## Checks\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if not line.startswith("|") or len(cells) < 3 or cells[0] in ("check", "") or set(cells[0]) <= {"-"}:
            continue
        rows.append((cells[0], cells[1].strip("*"), " | ".join(cells[2:])))
    if not rows:
        raise UserError(f"{path}: the Checks table has no rows")
    return rows
