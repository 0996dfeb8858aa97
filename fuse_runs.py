from deepfake_pipeline.cli.fuse_runs import main

if __name__ == "__main__":
    raise SystemExit(main())
