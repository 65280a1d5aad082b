"""What a developer runs offline, without a ROS graph: the rosbag2 runner and its prompt files."""
