#!/usr/bin/env bash
# Print the path of a working Python interpreter of the given version (e.g. 3.13):
# pythonX.Y on PATH if it runs, else one of pyenv's installed versions.
set -uo pipefail
version=${1:?usage: find-python.sh 3.13}
if command -v "python$version" >/dev/null && "python$version" -c "" 2>/dev/null; then
    "python$version" -c "import sys; print(sys.executable)"
    exit 0
fi
if command -v pyenv >/dev/null; then
    for candidate in "$(pyenv root)"/versions/"$version"*/bin/"python$version"; do
        if [[ -x "$candidate" ]]; then
            echo "$candidate"
            exit 0
        fi
    done
fi
exit 1
