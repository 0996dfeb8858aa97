"""Step 1: raw corpora -> manifests + 16 kHz mono waveform store. See README.md."""

from deepfake_pipeline.cli.preprocess import main

if __name__ == "__main__":
    raise SystemExit(main())
