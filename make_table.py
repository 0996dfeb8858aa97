from deepfake_pipeline.cli.make_table import main

if __name__ == "__main__":
    raise SystemExit(main())
