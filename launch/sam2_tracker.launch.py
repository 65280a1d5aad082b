"""Start the sam2_tracker node with a parameter file.

    ros2 launch sam2_ros sam2_tracker.launch.py image_topic:=/camera/color/image_raw
    ros2 launch sam2_ros sam2_tracker.launch.py params_file:=/path/to/my.yaml namespace:=wrist

The node configures and activates itself (parameter `autostart`); set it to false in the
parameter file to leave the node to a lifecycle manager.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([FindPackageShare("sam2_ros"), "config", "sam2_tracker.yaml"]),
                description="YAML file with the node's parameters",
            ),
            DeclareLaunchArgument("namespace", default_value="", description="Namespace of the node and its topics"),
            DeclareLaunchArgument(
                "image_topic",
                default_value="image",
                description="Camera topic to track on (with image_transport compressed, its /compressed sub-topic)",
            ),
            Node(
                package="sam2_ros",
                executable="sam2_tracker",
                name="sam2_tracker",
                namespace=LaunchConfiguration("namespace"),
                parameters=[LaunchConfiguration("params_file")],
                remappings=[("image", LaunchConfiguration("image_topic"))],
                output="screen",
            ),
        ]
    )
