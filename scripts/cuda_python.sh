# Sourced by the GPU scripts (benchmarks/gpu.sh, scripts/train_gpu.sh): sets PY to a Python with a
# CUDA build of torch ($PYTHON, then .venv, then python3; with none, a CUDA torch is pip-installed
# into .venv-gpu) and pip-installs into its environment the packages it lacks, never another torch.
# With DEVICE=cpu (a check of a GPU script on a CPU machine) PY is .venv's Python as it is.
# Arguments: extra import names to check, with the pip packages to install when one is missing.
has_cuda_torch() { "$1" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; }
if [[ ${DEVICE:-cuda} == cpu ]]; then
    PY=.venv/bin/python
else
    PY=""
    for candidate in ${PYTHON:-} .venv/bin/python python3; do
        if command -v "$candidate" >/dev/null && has_cuda_torch "$candidate"; then PY=$candidate; break; fi
    done
    if [[ -z $PY ]]; then
        echo "no Python with a CUDA build of torch: installing one into .venv-gpu" >&2
        python3 -m venv .venv-gpu
        .venv-gpu/bin/python -m pip install -q torch
        PY=.venv-gpu/bin/python
    fi
    pip_install() {  # into that Python's own environment; a system Python may need --user
        "$PY" -m pip install -q "$@" || "$PY" -m pip install -q --user --break-system-packages "$@"
    }
    if ! "$PY" -c "import numpy, cv2, tqdm, skimage, PIL, matplotlib${CUDA_PYTHON_IMPORTS:+, $CUDA_PYTHON_IMPORTS}" 2>/dev/null; then
        pip_install numpy opencv-python-headless tqdm scikit-image pillow matplotlib ${CUDA_PYTHON_PACKAGES:-}
    fi
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
