from deepfake_pipeline.cli.eval_logreg import main

if __name__ == "__main__":
    raise SystemExit(main())
