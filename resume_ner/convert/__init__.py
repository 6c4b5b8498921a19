"""ONNX conversion: discovery, export, quantization, parity, the package."""
