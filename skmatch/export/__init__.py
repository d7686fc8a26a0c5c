"""Export of fitted estimators for serving outside Python's torch: ONNX."""

from skmatch.export._onnx import export_onnx, item_codes, user_input_names, user_tower_inputs

__all__ = ["export_onnx", "item_codes", "user_input_names", "user_tower_inputs"]
