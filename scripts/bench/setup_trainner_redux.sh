#!/usr/bin/env bash
# A separate virtual environment in which scripts/bench/train_step.py runs traiNNer-redux's
# own SRModel (its --trainner-redux runner), on srkit's torch build:
#
#   scripts/bench/setup_trainner_redux.sh CHECKOUT [VENV]
#
# CHECKOUT: a checkout of traiNNer-redux (https://github.com/the-database/traiNNer-redux; not
# on PyPI); VENV: the environment to create (default .venv-trainner in the repository root,
# git-ignored).  srkit's .venv (SRKIT_VENV, default <repo>/.venv, from `make test`) is left
# untouched: the new environment is made from the same base interpreter, and a .pth file puts
# .venv's site-packages on its path *after* its own, so torch/torchvision (and whatever else
# .venv already has that satisfies traiNNer-redux's requirements) are srkit's very files, and
# pip installs only what is missing, into VENV, with torch and torchvision pinned (a
# constraints file) to srkit's versions, so it never downloads or upgrades them.  Where a
# requirement needs a newer version of something in .venv, pip installs it into VENV (which
# comes first on the path) and leaves .venv's copy alone ("outside environment").
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 TRAINNER_REDUX_CHECKOUT [VENV (default .venv-trainner)]" >&2
    exit 2
fi
repo=$(cd "$(dirname "$0")/../.." && pwd)
checkout=$(cd "$1" && pwd)
venv=${2:-$repo/.venv-trainner}
srkit_venv=${SRKIT_VENV:-$repo/.venv}

if [ ! -f "$checkout/traiNNer/models/sr_model.py" ] || [ ! -f "$checkout/pyproject.toml" ]; then
    echo "$checkout is not a traiNNer-redux checkout (no traiNNer/models/sr_model.py)" >&2
    exit 1
fi
if [ ! -x "$srkit_venv/bin/python" ]; then
    echo "srkit's environment $srkit_venv is missing: run 'make test' first" >&2
    exit 1
fi

purelib='import sysconfig; print(sysconfig.get_paths()["purelib"])'
srkit_site=$("$srkit_venv/bin/python" -c "$purelib")

# the same base interpreter as srkit's .venv (a venv made from a venv's python uses its base)
"$srkit_venv/bin/python" -m venv "$venv"
venv_site=$("$venv/bin/python" -c "$purelib")
# .pth lines are appended to sys.path after the directory holding them: VENV's own packages win
echo "$srkit_site" > "$venv_site/zz_srkit_venv.pth"

# torch and torchvision pinned to srkit's; the requirements are the checkout's pyproject's
"$srkit_venv/bin/python" - "$checkout/pyproject.toml" "$venv/constraints.txt" "$venv/requirements.txt" <<'EOF'
import importlib.metadata as md
import re
import sys
import tomllib

pyproject, constraints, requirements = sys.argv[1:]
with open(constraints, 'w') as f:
    for name in ('torch', 'torchvision'):
        f.write(f'{name}=={md.version(name)}\n')
with open(pyproject, 'rb') as f:
    deps = tomllib.load(f)['project']['dependencies']
with open(requirements, 'w') as f:
    for d in deps:
        if re.split(r'[<>=!~\[ ;]', d, maxsplit=1)[0].lower() not in ('torch', 'torchvision'):
            f.write(d + '\n')
EOF

"$venv/bin/python" -m pip install --quiet --upgrade-strategy only-if-needed \
    -c "$venv/constraints.txt" -r "$venv/requirements.txt"

# the checks: pip sees srkit's torch/torchvision as installed (nothing to download), torch is
# srkit's file, and traiNNer-redux's SRModel imports
if "$venv/bin/python" -m pip install --dry-run -c "$venv/constraints.txt" torch torchvision 2>/dev/null \
        | grep -i '^would install'; then
    echo "pip would install another torch/torchvision into $venv" >&2
    exit 1
fi
"$venv/bin/python" - "$checkout" "$srkit_site" <<'EOF'
import sys
checkout, srkit_site = sys.argv[1:]
sys.path.insert(0, checkout)
import torch
assert torch.__file__.startswith(srkit_site), f'torch comes from {torch.__file__}, not {srkit_site}'
import traiNNer.models.sr_model  # noqa: F401
print(f'ok: torch {torch.__version__} from {srkit_site}; traiNNer-redux imports from {checkout}')
EOF
echo "run: python scripts/bench/train_step.py --model span --trainner-redux $checkout" \
    "$([ "$venv" = "$repo/.venv-trainner" ] || echo "--trainner-venv $venv")"
