"""Step 3 at ASVspoof 2019 LA size: wall time and peak memory of `eval_logreg.py --layer-sweep`
(and of a one-layer run) on a synthetic study written through the pipeline's own writers.

    .venv/bin/python bench/bench_scale.py --fraction 0.1 1.0 --shape base large

The study has LA's three splits scaled by --fraction (train 25,380 clips / 20 speakers, dev
24,844 / 20, eval 71,237 / 67; about 10% bona fide, disjoint speakers, unseen attacks in eval):
manifests, 0.1 s noise waveforms (formats/wavestore), spectral features (formats/feature_files),
the silence-only check's cache (computed by baseline/shortcut, so the timed runs only read it),
and float16 embeddings of the wav2vec2-base shape (13 hidden states x 768, `random:base`) or the
XLS-R 300M shape (25 x 1024, `random:large`). The embeddings are Gaussian with a class shift on
16 dimensions whose size peaks at one layer (and a per-speaker offset), so the fits converge to
something that depends on the layer and the sweep has a layer to find. They are not features of
any model: the numbers are speed and memory, never detection results.

Each run is `deepfake_pipeline.cli.eval_logreg.main` in a fresh subprocess; its peak RSS is the
child's own VmHWM (/proc/self/status at its end), which counts the pages of memory-mapped files
it touched too. The
digest printed per run covers the score files and the sweep table of metrics.json, so two code
versions can be checked to give the same numbers.

Disk: the XLS-R shape at 100% holds 121,461 x 25 x 1024 x 2 bytes = 6.2 GB of embeddings (the
base shape 2.4 GB, the waveforms 0.8 GB). The study lives under --root, one folder per fraction;
a shape's embeddings are deleted after its runs and the whole folder at the end, unless --keep.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deepfake_pipeline import __version__  # noqa: E402
from deepfake_pipeline.baseline import shortcut  # noqa: E402
from deepfake_pipeline.formats import feature_files  # noqa: E402
from deepfake_pipeline.formats.manifest import MANIFEST_COLUMNS, manifest_sha256, write_manifest  # noqa: E402
from deepfake_pipeline.formats.model_identity import identify  # noqa: E402
from deepfake_pipeline.formats.wavestore import SAMPLE_RATE, STORE_DTYPE, write_info, write_shard  # noqa: E402

CORPUS = "lascale"
# split -> (clips, speakers, bona fide clips, attacks) of ASVspoof 2019 LA
LA = {
    "train": (25_380, 20, 2_580, [f"A0{k}" for k in range(1, 7)]),
    "dev": (24_844, 20, 2_548, [f"A0{k}" for k in range(1, 7)]),
    "eval": (71_237, 67, 7_355, [f"A{k:02d}" for k in range(7, 20)]),
}
SHAPES = {"base": ("random:base", 13, 768), "large": ("random:large", 25, 1024)}
CLIP_SAMPLES = SAMPLE_RATE // 10
SIGNAL_DIMS = 16
ROW_BLOCK = 2048


def peak_layer(layers: int) -> int:
    return (2 * layers) // 3


def design(split: str, fraction: float, seed: int) -> pd.DataFrame:
    clips, speakers, bonafide, attacks = LA[split]
    n, n_bona = max(int(round(clips * fraction)), 4 * speakers), max(int(round(bonafide * fraction)), speakers)
    rng = np.random.default_rng(seed)
    labels = np.ones(n, dtype=int)
    labels[:n_bona] = 0
    rng.shuffle(labels)
    speaker = np.array([f"{split[0].upper()}{s:04d}" for s in range(speakers)])[rng.integers(0, speakers, n)]
    attack = np.where(labels == 0, "-", np.array(attacks)[rng.integers(0, len(attacks), n)])
    return pd.DataFrame(
        {
            "utt_id": [f"{CORPUS}_{split}_{i:06d}" for i in range(n)],
            "label": labels,
            "speaker": speaker,
            "attack": attack,
        }
    )


def write_split(interim: Path, processed: Path, split: str, fraction: float, seed: int) -> None:
    """Manifest, waveforms, info.json, spectral features and the silence cache of one split."""
    split_id = f"{CORPUS}_{split}"
    split_dir = interim / split_id
    if (split_dir / "info.json").is_file():
        return
    table = design(split, fraction, seed)
    n = len(table)
    rng = np.random.default_rng(seed + 100)
    waves = np.empty((n, CLIP_SAMPLES), dtype=np.float32)
    for start in range(0, n, 8192):
        block = rng.normal(0, 0.1, (min(8192, n - start), CLIP_SAMPLES))
        waves[start : start + len(block)] = np.round(block * 32767) / 32768
    (split_dir / "waves").mkdir(parents=True, exist_ok=True)
    write_shard(split_dir, 0, waves.reshape(-1))
    manifest = table.assign(
        corpus=CORPUS,
        split=split,
        source_path=[f"/audio/{u}.flac" for u in table["utt_id"]],
        duration_s=CLIP_SAMPLES / SAMPLE_RATE,
        orig_sr=SAMPLE_RATE,
        num_samples=CLIP_SAMPLES,
        shard=0,
        offset=np.arange(n) * CLIP_SAMPLES,
        audio_sha1=[hashlib.sha1(w.tobytes()).hexdigest() for w in waves],
    )
    del waves
    write_manifest(manifest[MANIFEST_COLUMNS], split_dir)
    write_info(
        split_dir,
        {
            "corpus": CORPUS,
            "split": split,
            "split_id": split_id,
            "demo": False,
            "store_dtype": STORE_DTYPE,
            "sample_rate": SAMPLE_RATE,
            "num_clips": n,
        },
    )
    out = processed / split_id
    out.mkdir(parents=True, exist_ok=True)
    spectral = pd.DataFrame(
        rng.normal(size=(n, len(feature_files.FEATURE_COLUMNS))), columns=feature_files.FEATURE_COLUMNS
    )
    spectral.insert(0, "label", table["label"].to_numpy())
    spectral.insert(0, "file", table["utt_id"].to_numpy())
    feature_files.write_spectral(
        spectral,
        feature_files.spectral_path(split_id, processed),
        {
            "kind": "spectral",
            "manifest_sha256": manifest_sha256(split_dir),
            "code_version": __version__,
            "num_clips": n,
            "split_id": split_id,
            "demo": False,
        },
    )
    shortcut.silence_table(split_dir, processed)


def embedding_rows(table: pd.DataFrame, layers: int, dim: int, split: str, seed: int, start: int, stop: int):
    """Rows start..stop of a split's (clips, layers, dim) float16 embeddings."""
    strength = 0.05 + 0.3 * np.exp(-0.5 * ((np.arange(layers) - peak_layer(layers)) / (layers / 6)) ** 2)
    if split == "eval":
        strength = 0.8 * strength  # a little harder than dev, as unseen attacks are
    speakers = sorted(set(table["speaker"]))
    offsets = np.random.default_rng(seed + 7).normal(0, 0.15, (len(speakers), layers, SIGNAL_DIMS))
    speaker_index = np.searchsorted(speakers, table["speaker"].to_numpy()[start:stop])
    rng = np.random.default_rng([seed, start])
    block = rng.standard_normal((stop - start, layers, dim), dtype=np.float32)
    bona = table["label"].to_numpy()[start:stop] == 0
    block[:, :, :SIGNAL_DIMS] += strength[None, :, None] * bona[:, None, None] + offsets[speaker_index]
    return block.astype(np.float16)


def write_embeddings(interim: Path, processed: Path, split: str, shape: str, seed: int) -> int:
    """The split's embeddings of `shape` through formats/feature_files; returns their bytes."""
    model, layers, dim = SHAPES[shape]
    split_id = f"{CORPUS}_{split}"
    array_path, meta_path = feature_files.embeddings_paths(split_id, feature_files.model_tag(model), processed)
    if not (array_path.is_file() and meta_path.is_file()):
        table = pd.read_csv(interim / split_id / "manifest.csv", dtype={"speaker": str}, keep_default_na=False)
        n = len(table)
        meta = {
            "model": model,
            "revision": None,
            "untrained": True,
            "arch": shape,
            "precision": "float32",
            "dtype": "float16",
            "layers": list(range(layers)),
            "pooling": "mean",
            "sample_rate": SAMPLE_RATE,
            "dim": dim,
            "manifest_sha256": manifest_sha256(interim / split_id),
            "code_version": __version__,
            "model_identity": identify(model).as_json(),
            "num_clips": n,
            "split_id": split_id,
            "demo": False,
        }
        array_path.parent.mkdir(parents=True, exist_ok=True)
        # row blocks, as step 2 joins its parts: no whole (clips, layers, dim) array in memory
        feature_files.write_embeddings(
            array_path,
            meta_path,
            (
                embedding_rows(table, layers, dim, split, seed, start, min(n, start + ROW_BLOCK))
                for start in range(0, n, ROW_BLOCK)
            ),
            meta,
        )
    return array_path.stat().st_size


# The child reports its own peak RSS (VmHWM: resident pages at their highest, those of memory-
# mapped files included). Not ru_maxrss: subprocess starts children with vfork, and exec records
# the parent's high-water mark in the child's ru_maxrss, so a child would show this process's
# peak (which holds a whole split's embeddings while writing them).
CHILD = """import sys
from pathlib import Path
from deepfake_pipeline.cli.eval_logreg import main
rc = main(sys.argv[2:])
status = Path("/proc/self/status").read_text().splitlines()
Path(sys.argv[1]).write_text(next(line for line in status if line.startswith("VmHWM:")).split()[1])
sys.exit(rc)
"""


def run_step3(root: Path, name: str, options: list, log_path: Path) -> dict:
    """eval_logreg main in a fresh process: wall seconds, peak RSS (GB), exit code."""
    argv = [
        "--features",
        "embeddings",
        "--train",
        f"{CORPUS}_train",
        "--dev",
        f"{CORPUS}_dev",
        "--test",
        f"{CORPUS}_eval",
        "--run",
        name,
        "--overwrite",
        "--interim-dir",
        str(root / "interim"),
        "--processed-dir",
        str(root / "processed"),
        "--results-dir",
        str(root / "results"),
        *options,
    ]
    peak_path = log_path.with_suffix(".peak_kib")
    peak_path.unlink(missing_ok=True)
    with log_path.open("w") as log:
        start = time.perf_counter()
        rc = subprocess.run(
            [sys.executable, "-c", CHILD, str(peak_path), *argv], cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        ).returncode
        wall = time.perf_counter() - start
    peak = int(peak_path.read_text()) * 1024 / 1e9 if peak_path.is_file() else float("nan")
    return {"wall_s": wall, "rss_gb": peak, "rc": rc}


def digest(run_dir: Path) -> str:
    """SHA-256 (12 hex digits) over the score files and metrics.json's selection and sweep."""
    h = hashlib.sha256()
    for path in sorted((run_dir / "scores").glob("*.txt")):
        h.update(path.name.encode() + path.read_bytes())
    saved = json.loads((run_dir / "metrics.json").read_text())
    h.update(
        json.dumps(
            [
                saved["selection"],
                saved.get("layer_sweep"),
                saved["dev"]["auc"],
                {k: (t["auc"], t["eer"], t["auc_ci"]) for k, t in saved["tests"].items()},
            ],
            sort_keys=True,
        ).encode()
    )
    return h.hexdigest()[:12]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fraction", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--shape", choices=sorted(SHAPES), nargs="+", default=["base", "large"])
    parser.add_argument("--runs", choices=("sweep", "one"), nargs="+", default=["sweep", "one"])
    parser.add_argument("--root", type=Path, default=Path("/tmp") / f"bench_scale_{os.getuid()}")
    parser.add_argument("--n-boot", type=int, default=20)
    parser.add_argument("--C-grid", nargs="+", default=["0.01", "1"], dest="C_grid")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the synthetic study under --root")
    args = parser.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    print(
        f"bench_scale: git {commit.stdout.strip()}, "
        f"C grid {' '.join(args.C_grid)}, --n-boot {args.n_boot}, --threads {args.threads}",
        flush=True,
    )
    rows = []
    for fraction in args.fraction:
        root = args.root / f"f{fraction:g}"
        start = time.perf_counter()
        for number, split in enumerate(LA):
            write_split(root / "interim", root / "processed", split, fraction, args.seed + number)
        print(f"[{fraction:g}] splits written in {time.perf_counter() - start:.0f} s", flush=True)
        for shape in args.shape:
            start = time.perf_counter()
            size = sum(
                write_embeddings(root / "interim", root / "processed", split, shape, args.seed + number)
                for number, split in enumerate(LA)
            )
            print(
                f"[{fraction:g} {shape}] embeddings {size / 1e9:.2f} GB written in {time.perf_counter() - start:.0f} s",
                flush=True,
            )
            model, layers, _ = SHAPES[shape]
            for kind in args.runs:
                options = [
                    "--model",
                    model,
                    "--n-boot",
                    str(args.n_boot),
                    "--C-grid",
                    *args.C_grid,
                    "--threads",
                    str(args.threads),
                ]
                options += ["--layer-sweep"] if kind == "sweep" else ["--layer", str(peak_layer(layers))]
                name = f"{shape}_{kind}"
                (root / "results").mkdir(parents=True, exist_ok=True)
                result = run_step3(root, name, options, root / "results" / f"{name}.log")
                result.update(
                    fraction=fraction,
                    shape=shape,
                    run=kind,
                    gb=size / 1e9,
                    digest=digest(root / "results" / name) if result["rc"] == 0 else "-",
                )
                rows.append(result)
                print(
                    f"[{fraction:g} {shape} {kind}] rc {result['rc']}  {result['wall_s']:.0f} s  "
                    f"peak RSS {result['rss_gb']:.2f} GB  digest {result['digest']}",
                    flush=True,
                )
            if not args.keep:
                for split in LA:
                    for path in feature_files.embeddings_paths(
                        f"{CORPUS}_{split}", feature_files.model_tag(model), root / "processed"
                    ):
                        path.unlink(missing_ok=True)
        if not args.keep:
            shutil.rmtree(root)
    print(
        "\n| fraction of LA | shape | run | embeddings GB | wall s | peak RSS GB | digest |"
        "\n|---|---|---|---|---|---|---|"
    )
    for r in rows:
        print(
            f"| {r['fraction']:g} | {r['shape']} | {r['run']} | {r['gb']:.2f} | {r['wall_s']:.0f} | "
            f"{r['rss_gb']:.2f} | {r['digest']} |"
        )
    for shape in args.shape:
        for kind in args.runs:
            mine = [r for r in rows if r["shape"] == shape and r["run"] == kind and r["rc"] == 0]
            if len(mine) >= 2:
                low, high = mine[0], mine[-1]
                print(
                    f"{shape} {kind}: {low['fraction']:g} -> {high['fraction']:g} of LA: peak RSS "
                    f"x{high['rss_gb'] / low['rss_gb']:.2f}, wall x{high['wall_s'] / low['wall_s']:.2f}"
                )
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
