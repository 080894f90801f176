"""Central training: fine-tuning, fitting the served ensemble, evaluation, the quality gate,
quantization and the training pipeline (services)."""
