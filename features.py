"""Step 2: spectral CSV + frozen Wav2Vec2 embeddings per corpus split. See README.md."""

from deepfake_pipeline.cli.features import main

if __name__ == "__main__":
    raise SystemExit(main())
