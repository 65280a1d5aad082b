# Source this (bash) after scripts/setup.sh: the colcon install space over the .venv runtime.
_sam2_ros_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# colcon's generated setup scripts read unset variables.
set +u
. "$_sam2_ros_root/install/setup.bash"
export AMENT_PREFIX_PATH=$AMENT_PREFIX_PATH:$_sam2_ros_root/.venv
export PATH=$_sam2_ros_root/.venv/bin:$PATH
# DDS discovery never leaves this machine.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
unset _sam2_ros_root
