from ml.models.registry import AuditLog, ModelVersion, TrainingRun

__all__ = ["AuditLog", "ModelVersion", "TrainingRun"]
