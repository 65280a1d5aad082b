"""The demonstration: a synthetic camera with ground truth, the demo driver, its scores and video.

Needs the demo's extra dependencies (scikit-image, matplotlib, imageio, sam2core.data); the node
in the parent package never imports this one.
"""
