"""Label Studio adapter: tasks, bulk predictions, review views, annotations. Knows nothing of ml_backend."""
