"""ONNX export with a parity check against PyTorch and int8 dynamic quantization."""
