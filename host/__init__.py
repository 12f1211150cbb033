"""What runs kernels and models: the native executor (wgpu-py) and the command line."""
