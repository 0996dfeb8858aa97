"""`python -m deepfake_pipeline.demo --out data/raw/demo`: write the generated demo corpus."""

import sys

from deepfake_pipeline.demo.corpus import main

sys.exit(main())
