"""Peak memory of embedding one long clip (step 2, CPU, one clip per pass), per model shape.

Each (model, seconds) runs in a fresh subprocess; its peak resident set (resource.getrusage
ru_maxrss) is read once the model is loaded and again after one clip is embedded. The growth
divided by the clip's seconds is the figure `features/memory.py` uses to refuse clips that do not
fit a memory budget (docs/reference.md, "Long clips").

    python bench/long_clip_memory.py --models random:base random:large --seconds 20 60
"""

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys
import numpy as np
import torch
torch.set_num_threads(int(sys.argv[3]))
from deepfake_pipeline.features.ssl_loading import load_model
from deepfake_pipeline.features.ssl_embed import embed_waveforms
loaded = load_model(sys.argv[1], device="cpu")
clip = (0.1 * np.random.default_rng(0).standard_normal(int(float(sys.argv[2]) * 16000))).astype(np.float32)
embed_waveforms(loaded, [clip[:16000]], batch_seconds=0.0)   # first-call allocations, 1 s
after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
embed_waveforms(loaded, [clip], batch_seconds=0.0)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"model": sys.argv[1], "seconds": float(sys.argv[2]), "after_load": after_load, "peak": peak}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["random:base", "random:large"])
    parser.add_argument("--seconds", nargs="+", type=float, default=[20.0, 60.0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    GB = 1024**3
    for model in args.models:
        for seconds in args.seconds:
            out = (
                subprocess.run(
                    [sys.executable, "-c", CHILD, model, str(seconds), str(args.threads)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            row = json.loads(out)
            growth = row["peak"] - row["after_load"]
            print(
                f"{model} {seconds:.0f} s: after load {row['after_load'] / GB:.2f} GiB, "
                f"peak {row['peak'] / GB:.2f} GiB, "
                f"growth {growth / GB:.2f} GiB = {growth / seconds / 2**20:.1f} MiB per audio-second",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
