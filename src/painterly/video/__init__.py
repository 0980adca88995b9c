"""Video: reading and writing with PyAV, optical flow and temporal consistency, the frame-by-frame pipeline."""
