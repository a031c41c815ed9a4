"""The `rlscaling` command: one subcommand per stage, each from its command module."""

from __future__ import annotations

import pytest

from rlscaling.cli import COMMANDS, main


def test_the_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
    assert "80% / 95% prediction intervals" in out  # a literal % in a help line


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_builds_its_parser_from_its_command_module(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    assert f"usage: rlscaling {command}" in capsys.readouterr().out
