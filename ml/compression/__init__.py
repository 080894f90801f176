"""Teacher to edge student: distillation and the compression pipeline that builds signed bundles."""
