"""Box-prompted segmentation with LiteMedSAM: ONNX encoder once per image or crop, decoder per prompt.

Only ``core.prompt.network`` and ``core.prompt.convert`` need PyTorch (to turn the checkpoint into ONNX
once); everything the editor and the CLI call at run time uses ONNX Runtime, so the slim build works.
"""
