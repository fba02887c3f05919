"""Export: any project's fitted model -> one ONNX graph per version, with a parity gate against the
native model and int8 where the framework allows it (model.py); torch graphs (torch_graph.py),
LightGBM / XGBoost / sklearn graphs (converted.py), the native model kept for re-export (native.py)."""

from workloads.export.model import ExportConfig, ExportReport, ParityError, check_parity, export_model

__all__ = ["ExportConfig", "ExportReport", "ParityError", "check_parity", "export_model"]
