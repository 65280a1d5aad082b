"""Start the sam2_tracker node with a parameter file, a model and a camera topic.

    ros2 launch sam2_ros sam2_tracker.launch.py \
        params_file:=$(ros2 pkg prefix --share sam2_ros)/config/sam2.1_hiera_tiny.yaml \
        checkpoint:=$HOME/models/sam2.1_hiera_tiny.pt image_topic:=/camera/color/image_raw
    ros2 launch sam2_ros sam2_tracker.launch.py namespace:=wrist use_sim_time:=true log_level:=debug

`model`, `checkpoint` and `device` override the parameter file's values when they are not
empty. The node configures and activates itself (parameter `autostart`); set it to false in the
parameter file to leave the node to a lifecycle manager.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

# Launch arguments that override one node parameter of the same name when they are not empty.
PARAMETER_ARGUMENTS = {
    "model": "SAM 2 model: sam2.1_hiera_t, _s, _b+, _l (Meta's) or sam2.1_hiera_demo; empty keeps params_file's",
    "checkpoint": "Checkpoint file in Meta's format, e.g. sam2.1_hiera_tiny.pt; empty keeps params_file's",
    "device": "Torch device: auto, cpu, cuda, cuda:N; empty keeps params_file's",
}


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([FindPackageShare("sam2_ros"), "config", "sam2_tracker.yaml"]),
                description="YAML file with the node's parameters (config/ has one per SAM 2.1 size)",
            ),
            *(
                DeclareLaunchArgument(name, default_value="", description=text)
                for name, text in PARAMETER_ARGUMENTS.items()
            ),
            DeclareLaunchArgument("namespace", default_value="", description="Namespace of the node and its topics"),
            DeclareLaunchArgument(
                "image_topic",
                default_value="image",
                description="Camera topic to track on (with image_transport compressed, its /compressed sub-topic)",
            ),
            DeclareLaunchArgument("use_sim_time", default_value="false", description="Use the /clock topic's time"),
            DeclareLaunchArgument("log_level", default_value="info", description="debug, info, warn, error or fatal"),
            OpaqueFunction(function=tracker_node),
        ]
    )


def tracker_node(context) -> list[Node]:
    """The node, from the launch arguments' values (`context.launch_configurations`)."""
    values = context.launch_configurations
    overrides = {name: values[name] for name in PARAMETER_ARGUMENTS if values[name]}
    overrides["use_sim_time"] = values["use_sim_time"].lower() == "true"
    return [
        Node(
            package="sam2_ros",
            executable="sam2_tracker",
            name="sam2_tracker",
            namespace=values["namespace"],
            parameters=[values["params_file"], overrides],
            remappings=[("image", values["image_topic"])],
            ros_arguments=["--log-level", values["log_level"]],
            output="screen",
        )
    ]
