#!/usr/bin/env bash
# Installs everything sam2_ros needs into .venv and builds the package with colcon.
#   scripts/setup.sh          runtime: CPU torch, numpy, OpenCV, ROS 2 Jazzy wheels, colcon
#   scripts/setup.sh --test   the same plus pytest and the test oracles: Meta's reference implementation,
#                             and SAMURAI's in .venv/oracles/samurai
# Safe to run again: with nothing changed it returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=$root/.venv
py=$venv/bin/python
with_test=0
[ "${1:-}" = "--test" ] && with_test=1

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

# 1. The virtual environment. torch is pinned to the CPU build that pip finds on this kind of
#    machine; every later install must leave it alone (the oracle goes in with --no-deps).
#    The ROS 2 Jazzy wheels and the pins in scripts/requirements*.txt are for CPython 3.11.
is_311() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; }
if [ ! -x "$py" ]; then
    base=""
    for candidate in ${PYTHON:-} python3.11 python3; do
        if command -v "$candidate" >/dev/null && is_311 "$candidate"; then base=$candidate; break; fi
    done
    if [ -z "$base" ]; then
        cat >&2 <<EOF_MESSAGE
setup: needs Python 3.11 (the ROS 2 Jazzy wheels and the pinned requirements are built for it);
found python3 $(python3 -c 'import platform; print(platform.python_version())' 2>/dev/null || echo "missing").
Get one, then run this again (or point PYTHON at it: PYTHON=/path/to/python3.11 scripts/setup.sh):
  Debian 12:     sudo apt install python3.11 python3.11-venv
  Ubuntu 24.04:  sudo add-apt-repository ppa:deadsnakes/ppa && sudo apt install python3.11 python3.11-venv
  any Linux:     uv python install 3.11   (or pyenv install 3.11)
EOF_MESSAGE
        exit 1
    fi
    "$base" -m venv "$venv"
elif ! is_311 "$py"; then
    echo "setup: $venv is not Python 3.11; remove it and run this again" >&2
    exit 1
fi
runtime_stamp=$(stamp_of scripts/setup.sh scripts/requirements.txt scripts/patch_rosidl_exports.py)
if [ "$(cat "$venv/.runtime-stamp" 2>/dev/null)" != "$runtime_stamp" ]; then
    echo "setup: installing the runtime into .venv"
    "$py" -m pip install -q --disable-pip-version-check torch==2.13.0
    "$py" -m pip install -q --disable-pip-version-check -r scripts/requirements.txt
    "$py" scripts/patch_rosidl_exports.py "$venv"
    echo "$runtime_stamp" >"$venv/.runtime-stamp"
fi
test_stamp=$(stamp_of scripts/setup.sh scripts/requirements-test.txt)
if [ "$with_test" = 1 ] && [ "$(cat "$venv/.test-stamp" 2>/dev/null)" != "$test_stamp" ]; then
    echo "setup: installing the test extras into .venv"
    "$py" -m pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
    SAM2_BUILD_CUDA=0 "$py" -m pip install -q --disable-pip-version-check --no-deps sam2==1.1.0
    # SAMURAI's code (the motion-aware mode's oracle) is packaged under the top-level name sam2
    # too: it gets a folder of its own and runs only in a child process (test/samurai_oracle.py).
    "$py" -m pip install -q --disable-pip-version-check --upgrade --no-deps --no-build-isolation \
        --target "$venv/oracles/samurai" absolutely-not-samurai==1.0.0
    "$py" -m pip install -q --disable-pip-version-check --upgrade --target "$venv/oracles/samurai" loguru
    echo "$test_stamp" >"$venv/.test-stamp"
fi

# 2. The package: rosidl generates sam2_ros.msg / sam2_ros.srv; the Python sources are
#    symlinked into install/, so editing a file needs no rebuild, adding or removing one does.
build_stamp=$( (cat package.xml CMakeLists.txt msg/* srv/*; find sam2_ros sam2core launch config -type f \
    -not -path "*/__pycache__/*" | sort) | sha256sum | cut -c1-16)
if [ "$(cat install/.build-stamp 2>/dev/null)" != "$build_stamp" ]; then
    echo "setup: building the package with colcon"
    (
        export PATH=$venv/bin:$PATH VIRTUAL_ENV=$venv AMENT_PREFIX_PATH=$venv CMAKE_PREFIX_PATH=$venv
        colcon --log-base build/log build --symlink-install --base-paths . \
            --build-base build --install-base install \
            --cmake-args -DPython3_EXECUTABLE="$py" -DBUILD_TESTING=OFF
    )
    echo "$build_stamp" >install/.build-stamp
fi
