#!/usr/bin/env bash
# Link profiles/slurm as the named Snakemake profile `slurm` (make slurm-profile), so that
# `snakemake --profile slurm all` works as typed from the project root.
#
#   scripts/install_slurm_profile.sh [DIR]   DIR: default ${XDG_CONFIG_HOME:-~/.config}/snakemake
#
# A link, not a copy: the profile follows the checkout. An existing `slurm` profile that is not this
# link is left alone, with an error saying so.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-${XDG_CONFIG_HOME:-$HOME/.config}/snakemake}
TARGET="$ROOT/profiles/slurm"
LINK="$DIR/slurm"
mkdir -p "$DIR"
if [ -L "$LINK" ] && [ "$(readlink "$LINK")" = "$TARGET" ]; then
  echo "slurm profile: $LINK -> $TARGET (already linked)"
  exit 0
fi
if [ -e "$LINK" ] || [ -L "$LINK" ]; then
  echo "error: $LINK exists and is not a link to $TARGET; move it away or link by hand" >&2
  exit 1
fi
ln -s "$TARGET" "$LINK"
echo "slurm profile: $LINK -> $TARGET"
echo "from $ROOT: snakemake --profile slurm all"
