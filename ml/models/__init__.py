from ml.models.edge import EdgeAgent, EdgeBundle, EdgePrediction, EdgeReport, EnrolmentToken  # noqa: F401
from ml.models.feedback import Feedback  # noqa: F401
from ml.models.monitoring import DriftReport, ShadowDeployment, ShadowPrediction  # noqa: F401
from ml.models.placement import SiteComputeProfile  # noqa: F401
from ml.models.recommendations import Recommendation  # noqa: F401
from ml.models.registry import AuditLog, ModelVersion, TrainingRun
from ml.models.webhooks import WebhookDelivery, WebhookSubscription  # noqa: F401

__all__ = ["AuditLog", "ModelVersion", "TrainingRun"]
