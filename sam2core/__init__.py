"""sam2core: SAM 2 in pure PyTorch (no ROS)."""
