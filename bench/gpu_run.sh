#!/usr/bin/env bash
# One prepared run of the GPU-only checks on a lent machine (docs/reference.md, "On a GPU"): both
# padding paths of step 2 against one clip per pass on every family (exact_paths), step 2 with
# --device cuda for the base and XLS-R (large) shapes, step 3, step 4 with --unfreeze-last 2 on
# cuda twice (the two runs must give the same scores), and the embedding bench on cuda, which
# times the clip-by-clip and the masked batched padding paths side by side. Issue 21's options
# too: step 2 in bf16 (its drift from float32 printed), step 2 in length buckets of 128 s (into a
# folder of its own; same_sets compares both with the float32 default set), and each features
# run's own audio-s/s per split (stage speeds). Every model is an UNTRAINED random:<arch>:
# speeds and checks that nothing breaks, not detection results.
#
# Inputs, prepared where the run starts (the GPU machine lacks PyAV and the demo's MP4s need it):
#   .gpu_data/raw/asvspoof      the demo's ASVspoof-layout corpus (python -m deepfake_pipeline.demo)
#   .gpu_data/interim/          step 1's demo_fakeavceleb_eval store
#   .whl/                       wheels of what the machine's image lacks (librosa, soundfile, soxr ...)
# Output: $OUT/stages.log (one line per stage), $OUT/logs.tar.gz (every log and result file).
#   DEVICE=cpu BASE=random:tiny LARGE=random:tiny BENCH_ARCHS=tiny BENCH_SECONDS=8 bash bench/gpu_run.sh
#                                                     # a dry run of the same commands on a CPU
#   LIMIT_SCALE=4 multiplies every stage's time limit (a dry run on a busy 2-core CPU needs it:
#   features_base on random:tiny ran past its 150 s there); BENCH_SKIP="bf16" leaves out the
#   bench's bf16 ways (on a CPU without native bf16 they can take minutes); BF16_FLAGS is added to
#   features_bf16's command (a CPU without native bf16 needs --allow-emulated-bf16).
set -u
OUT=${OUT:-bench/out/gpu_run}   # the device tool sets OUT; bench/out/ is ignored by git
SITE=${SITE:-$PWD/bench/out/site}  # where environment() installs the carried wheels
DEVICE=${DEVICE:-cuda}
BENCH_SECONDS=${BENCH_SECONDS:-240}
BASE=${BASE:-random:base}     # the dry run takes random:tiny for both
LARGE=${LARGE:-random:large}
BENCH_ARCHS=${BENCH_ARCHS:-base large}
PY=${PY:-python3}
LIMIT_SCALE=${LIMIT_SCALE:-1}
BENCH_SKIP=${BENCH_SKIP:-}
BF16_FLAGS=${BF16_FLAGS:-}
LOGS=$OUT/logs
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1
LA=demo_asvspoof2019
SPLITS="${LA}_train ${LA}_dev ${LA}_eval demo_fakeavceleb_eval"

stage() {  # stage NAME SECONDS COMMAND...: run it under a time limit, log it, record rc and wall time
    local name=$1 limit=$(( $2 * LIMIT_SCALE )) start end rc
    shift 2
    start=$(date +%s%N)
    # through bash -c so that a stage can be one of the functions below (exported with export -f)
    timeout "$limit" bash -c '"$@"' stage "$@" >"$LOGS/$name.log" 2>&1
    rc=$?
    end=$(date +%s%N)
    printf 'STAGE %-16s rc=%-3s wall=%6s ms (limit %s s)\n' "$name" "$rc" "$(( (end - start) / 1000000 ))" "$limit" \
        | tee -a "$OUT/stages.log"
}

environment() {
    if [ -d .whl ]; then
        $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || return 1
    fi
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null
    nproc
    $PY - <<'EOF'
import sys, torch, transformers, numpy, sklearn, librosa, soundfile
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
      "transformers", transformers.__version__, "numpy", numpy.__version__, "sklearn", sklearn.__version__,
      "librosa", librosa.__version__, "soundfile", soundfile.__version__)
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))
EOF
}

step1() {
    mkdir -p data/raw/demo data/interim
    cp -r .gpu_data/raw/asvspoof data/raw/demo/ && cp -r .gpu_data/interim/. data/interim/ || return 1
    $PY preprocess_datasets.py --corpus asvspoof2019 --root data/raw/demo/asvspoof --name $LA
}

same_scores() {  # the two step-4 runs on cuda: identical score files, or the differences
    local a=results/demo_unfreeze2/scores b=results/demo_unfreeze2_again/scores f status=0
    for f in "$a"/*; do
        if cmp -s "$f" "$b/$(basename "$f")"; then echo "identical: $(basename "$f")"
        else echo "DIFFERENT: $(basename "$f")"; status=1; fi
    done
    $PY - "$a" "$b" <<'EOF'
import sys, pathlib, numpy as np, pandas as pd
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.txt")):
    x = pd.read_csv(f, sep=" ", header=None).iloc[:, -1].to_numpy(float)
    y = pd.read_csv(pathlib.Path(sys.argv[2]) / f.name, sep=" ", header=None).iloc[:, -1].to_numpy(float)
    print(f.name, "max |score difference|", float(np.max(np.abs(x - y))) if x.size == y.size else "sizes differ")
EOF
    return $status
}

exact_paths() {  # both padding paths against one clip per pass, per family, on $DEVICE
    $PY - "$DEVICE" "$BASE" <<'EOF'
import sys, time, numpy as np
sys.path.insert(0, ".")
from deepfake_pipeline.features.ssl_embed import embed_waveforms
from deepfake_pipeline.features.ssl_loading import load_model
device, base = sys.argv[1:3]
rng = np.random.default_rng(0)
# one long and many short clips, clips one sample and one frame apart (tests/test_batched_exact.py)
lengths = [48000, 401, 8000, 15999, 16000, 16001, 15680, 30000, 7000, 12345]
clips = [(0.3 * np.sin(np.arange(n) * rng.uniform(0.02, 0.1)) + 0.05 * rng.standard_normal(n)).astype(np.float32)
         for n in lengths]
families = ["random:tiny", "random:hubert-tiny", "random:wavlm-tiny", "random:data2vec-audio-tiny", base]
worst = 0.0
for spec in dict.fromkeys(families):
    loaded = load_model(spec, device=device)
    alone = embed_waveforms(loaded, clips, batch_seconds=0.0)
    for path in ("clip-by-clip", "batched"):
        embed_waveforms(loaded, clips, batch_seconds=100.0, padding=path)  # warm-up
        start = time.perf_counter()
        got = embed_waveforms(loaded, clips, batch_seconds=100.0, padding=path)
        seconds = time.perf_counter() - start
        rel = np.linalg.norm(got - alone, axis=-1) / np.linalg.norm(alone, axis=-1)
        worst = max(worst, float(rel.max()))
        print(f"{spec:<28} {path:<13} max relative difference from one clip per pass {rel.max():.2e} ({seconds:.3f} s)")
print(f"worst {worst:.2e}", "OK" if worst < 1e-4 else "FAIL (above 1e-4, the tests' bar)")
sys.exit(0 if worst < 1e-4 else 1)
EOF
}

same_sets() {  # the bf16 and bucketed sets against the float32 default one, split by split
    $PY - "$BASE" "$OUT/processed_b128" $SPLITS <<'EOF'
import sys, numpy as np
sys.path.insert(0, ".")
from deepfake_pipeline.formats.feature_files import load_embeddings, model_tag
base, b128, splits = sys.argv[1], sys.argv[2], sys.argv[3:]
tag, status = model_tag(base), 0
for split in splits:
    full, _ = load_embeddings(split, tag, "data/processed", "data/interim")
    b = full.astype(np.float64)
    for name, folder, other_tag in (("b128", b128, tag), ("bf16", "data/processed", model_tag(base, "bfloat16"))):
        other, meta = load_embeddings(split, other_tag, folder, "data/interim")
        rel = np.linalg.norm(other.astype(np.float64) - b, axis=-1) / np.linalg.norm(b, axis=-1)
        # float16 storage: one float16 step is ~5e-4 relative, so the bucketed set is held to 1e-3
        verdict = "" if name == "bf16" else (" OK" if rel.max() < 1e-3 else " FAIL (above 1e-3)")
        status |= verdict.startswith(" FAIL")
        print(f"{split:<32} {name} vs float32 default: max relative difference {rel.max():.2e}, "
              f"median {np.median(rel):.2e}{verdict}")
        if name == "bf16":
            print(f"{'':<32} its recorded drift, worst layer's median over the first clips: "
                  f"{max(meta['precision_drift']['median']):.2e}")
sys.exit(status)
EOF
}

speeds() {  # each features run's own last progress line per split, and the bf16 drift note
    grep -H "clips (100.0%)" "$LOGS"/features_*.log | sed "s|^$LOGS/|  |"
    grep -H "bfloat16 drift" "$LOGS"/features_bf16.log | sed "s|^$LOGS/|  |"
}

export -f environment step1 same_scores exact_paths same_sets speeds
export PY LA DEVICE BASE OUT LOGS SPLITS
export SITE
export PYTHONPATH="$SITE"
stage env 90 environment
stage step1 120 step1
stage exact_paths 240 exact_paths
stage features_base 150 $PY features.py --what embeddings --model $BASE --splits $SPLITS --device "$DEVICE"
stage features_large 150 $PY features.py --what embeddings --model $LARGE --splits $SPLITS --device "$DEVICE"
stage features_bf16 150 $PY features.py --what embeddings --model $BASE --splits $SPLITS --device "$DEVICE" \
    --precision bfloat16 $BF16_FLAGS
stage features_b128 150 $PY features.py --what embeddings --model $BASE --splits $SPLITS --device "$DEVICE" \
    --batch-seconds 128 --processed-dir "$OUT/processed_b128"
stage same_sets 60 same_sets
stage speeds 10 speeds
stage step3 120 $PY eval_logreg.py --features embeddings --model $BASE --layer-sweep --train ${LA}_train \
    --dev ${LA}_dev --test ${LA}_eval demo_fakeavceleb_eval --run demo_baseline --jobs 8
stage step4 200 $PY train_contrastive.py --baseline-run results/demo_baseline --unfreeze-last 2 --device "$DEVICE" \
    --run demo_unfreeze2 --jobs 8
stage step4_again 200 $PY train_contrastive.py --baseline-run results/demo_baseline --unfreeze-last 2 \
    --device "$DEVICE" --run demo_unfreeze2_again --jobs 8
stage step4_same 30 same_scores
# --call-clips 40: the bench counts FLOPs per distinct clip length on the meta device, about 1 s
# each for the large shape, so the default 389-clip driver estimate alone took minutes there
stage bench 300 $PY bench/bench_embeddings.py --device "$DEVICE" --arch $BENCH_ARCHS --audio-seconds "$BENCH_SECONDS" \
    --repeats 2 --call-clips 40 --skip $BENCH_SKIP
stage bench_b128 120 $PY bench/bench_embeddings.py --device "$DEVICE" --arch ${BENCH_ARCHS%% *} --audio-seconds "$BENCH_SECONDS" \
    --batch-seconds 128 --repeats 2 --skip $BENCH_SKIP
tar -czf "$OUT/logs.tar.gz" --exclude='*.pt' --exclude='*.pdf' --exclude='*.png' "$LOGS" $(ls -d results/demo_* 2>/dev/null) \
    $(ls data/processed/*/*.json 2>/dev/null) 2>/dev/null
cat "$OUT/stages.log"
echo "--- speeds (features.py's own progress lines)"; cat "$LOGS/speeds.log"
echo "--- same_sets"; cat "$LOGS/same_sets.log"
