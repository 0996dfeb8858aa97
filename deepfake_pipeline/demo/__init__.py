"""The generated demo corpus (ASVspoof 2019 LA and FakeAVCeleb layouts): `python -m deepfake_pipeline.demo`."""
