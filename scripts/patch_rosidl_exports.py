"""Point the ROS wheels' Python type-support CMake exports at this interpreter.

The ros-jazzy PyPI wheels ship `*__rosidl_generator_pyExport.cmake` files that hard-code the
wheel builder's Python and numpy include directories (`/opt/python/cp3xx-.../include/...`).
Building any package that generates interfaces against them fails until those paths name this
interpreter's include directory and this numpy's. Idempotent: files already fixed are left alone.
"""

import re
import sys
import sysconfig
from pathlib import Path

import numpy

BUILDER_INCLUDES = re.compile(r'INTERFACE_INCLUDE_DIRECTORIES "/opt/python/[^"]*"')


def main(prefix: Path) -> None:
    includes = f'INTERFACE_INCLUDE_DIRECTORIES "{sysconfig.get_paths()["include"]};{numpy.get_include()}"'
    fixed = 0
    for export in prefix.glob("share/*/cmake/*__rosidl_generator_pyExport.cmake"):
        text = export.read_text()
        patched = BUILDER_INCLUDES.sub(includes, text)
        if patched != text:
            export.write_text(patched)
            fixed += 1
    print(f"patch_rosidl_exports: {fixed} CMake export(s) fixed under {prefix}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
