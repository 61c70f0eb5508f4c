#!/usr/bin/env bash
# One-shot environment set-up used by `make`: a virtualenv with every extra,
# torch pinned through constraints.txt, and the machine quirks handled only
# where they apply.
set -euo pipefail
VENV=${1:-.venv}
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
echo "==> installing sonobench and its dependencies (torch pinned by constraints.txt)"
"${PIP[@]}" install -q -c constraints.txt -e ".[all]"

# A CPU machine must not end up with CUDA wheels (a free torch resolve pulls GBs of them).
if ! command -v nvidia-smi >/dev/null 2>&1; then
  if "${PIP[@]}" list 2>/dev/null | grep -qi '^nvidia-'; then
    echo "Error: nvidia-* packages were installed on a machine without a GPU; check constraints.txt" >&2
    exit 1
  fi
fi

# torchvision's Linux wheel on PyPI is a CUDA build; over a CPU torch its
# extension cannot load. Install an import hook only where that is the case.
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
HOOK="$SITE/sonobench_torchvision_compat.pth"
if "$VENV/bin/python" -c 'import sys, sonobench.kernel._torchcompat as c; sys.exit(0 if c.needed() else 1)'; then
  echo "==> torchvision extension cannot load over this torch: installing the import hook"
  echo 'import sonobench.kernel._torchcompat as _c; _c.install_hook()' > "$HOOK"
else
  rm -f "$HOOK"
fi
"$VENV/bin/python" -c 'import torchvision, timm, segmentation_models_pytorch' \
  || { echo "Error: torchvision/timm/smp do not import; see README (Troubleshooting)" >&2; exit 1; }

# System packages: bubblewrap (the sandbox) and chromium (browser tests).
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> apt-get install ${need[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "Warning: please install ${need[*]} (Debian: sudo apt-get install ${need[*]});" \
         "without bubblewrap the sandbox falls back to weaker isolation and refuses pickles" >&2
  fi
fi
echo "==> set-up complete"
