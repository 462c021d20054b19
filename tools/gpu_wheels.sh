#!/usr/bin/env bash
# The wheels vidkit needs on a lent GPU machine that has Python 3.12 and torch 2.11 (with torchvision,
# numpy, einops, pyyaml, tqdm, matplotlib, pillow, tabulate, portalocker, pytest) but no network: av,
# decord, pytorchvideo, fvcore, iopath, yacs, termcolor and parameterized, as cp312 manylinux wheels in
# DIR (default .whl, ignored by git). Each at the version installed here, where the tests ran, else the
# pin below; pytorchvideo, fvcore and iopath are published only as sources, so their pure-Python wheels
# are built here (pip wheel --no-deps). wandb is left out: vidkit imports it only for --wandb.
#
#     bash tools/gpu_wheels.sh [DIR]
#
# It checks that the wheels and the working tree that travels with them fit the 64 MiB a call may carry,
# and prints the command to run there: install, then tools/gpu_suite.py (its budget counted from the
# install's start). Needs pip and PyPI here; nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.whl}
limit=$((64 * 1024 * 1024))

installed() { # the version pip has here, or the fallback
    python3 -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$1" 2>/dev/null || echo "$2"
}
binary=("av==$(installed av 18.1.0)" "decord==$(installed decord 0.6.0)" "yacs==$(installed yacs 0.1.8)"
    "termcolor==$(installed termcolor 3.3.0)" "parameterized==$(installed parameterized 0.9.0)")
source_only=("pytorchvideo==$(installed pytorchvideo 0.1.5)" "fvcore==$(installed fvcore 0.1.5.post20221221)"
    "iopath==$(installed iopath 0.1.10)")

rm -rf "$dir"
mkdir -p "$dir"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
    manylinux2010_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platforms[@]}" -d "$dir" "${binary[@]}"
python3 -m pip wheel -q --disable-pip-version-check --no-deps -w "$dir" "${source_only[@]}"

wheels=$(du -cb "$dir"/*.whl | tail -1 | cut -f1)
# what a call sends: tracked files and untracked ones git does not ignore (the device tool's rule)
tree=$(git ls-files --cached --others --exclude-standard -z | xargs -0 du -cb 2>/dev/null | awk '$2 == "total" {s += $1} END {print s + 0}')
total=$((wheels + tree))
ls -1 "$dir"
python3 -c 'import sys; w, t, l = (int(v) / 1e6 for v in sys.argv[1:]); print(f"wheels {w:.1f} MB + working tree {t:.1f} MB = {w + t:.1f} MB of the 64 MiB ({l:.1f} MB) a call carries")' \
    "$wheels" "$tree" "$limit"
if ((total > limit)); then
    echo "error: over the limit by $(((total - limit) / 1024)) KiB; leave decord out or shrink the tree" >&2
    exit 1
fi
cat <<EOF

On the GPU machine (carry: $dir), from the checkout's root; the results land in \$OUT:

T0=\$(date +%s); python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $dir/*.whl && export PYTHONPATH=/tmp/site && python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . && python3 tools/gpu_suite.py --out \$OUT --work /tmp/vidkit-gpu --started \$T0

A run cut short: copy the returned gpu-suite.json into $dir/ and run the same line with
--resume $dir/gpu-suite.json added (it skips the steps that succeeded), or with --skip STEPS.
EOF
