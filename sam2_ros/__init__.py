"""sam2_ros: the ROS 2 side of streaming SAM 2: the node and its parts here, the offline tools in
`sam2_ros.tools` and the demo in `sam2_ros.demo` (which alone needs the demo's extra dependencies).

The generated interfaces live in the subpackages `sam2_ros.msg` and `sam2_ros.srv`, which rosidl
writes into the colcon install space; the model and tracker live in the ROS-free library
`sam2core`.
"""

from pkgutil import extend_path

# Merge this folder with the installed package of the same name, so that `sam2_ros.msg` is found
# also when the source folder comes first on sys.path (running from the repository root).
__path__ = extend_path(__path__, __name__)
