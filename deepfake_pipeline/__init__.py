"""Audio deepfake detection pipeline: corpus ingestion, features, baseline, contrastive head."""

__version__ = "0.2.0"
