from deepfake_pipeline.cli.train_contrastive import main

if __name__ == "__main__":
    raise SystemExit(main())
