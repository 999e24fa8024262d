"""Keypoint tables: the validated CSV/Parquet format, building them from class folders, splits, the Ray engine."""
