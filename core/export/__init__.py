"""Export of trained models to ONNX (fp32 and int8) with metadata and a numeric parity check."""
