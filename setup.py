"""`pip install .` gives the ROS-free library sam2core.

The ROS 2 package (node, interfaces, launch files) is built by colcon from package.xml and
CMakeLists.txt; see README.md. torch is not pinned here: install the build you want first (CPU or
CUDA), and pip keeps it.
"""

from setuptools import find_packages, setup

setup(
    name="sam2core",
    version="0.1.0",
    description="Streaming Segment Anything 2 in pure PyTorch: model, tracker, training, tools",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["sam2core", "sam2core.*"]),
    package_data={"sam2core": ["weights/*.pt", "weights/*.json"]},
    install_requires=[
        "torch>=2.3",
        "numpy>=1.24",
        "opencv-python-headless>=4.8",
        "tqdm>=4.60",
    ],
    extras_require={
        "data": ["scikit-image>=0.22", "matplotlib>=3.7", "imageio>=2.30", "imageio-ffmpeg>=0.4"],
        "onnx": ["onnx>=1.16", "onnxruntime>=1.18"],
        "openvino": ["onnx>=1.16", "openvino>=2024.0"],
    },
)
