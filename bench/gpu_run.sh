#!/usr/bin/env bash
# One prepared run of the GPU-only checks on a lent machine (docs/reference.md, "On a GPU"): step 2 with
# --device cuda for the base and XLS-R (large) shapes, step 3, step 4 with --unfreeze-last 2 on
# cuda twice (the two runs must give the same scores), and the embedding bench on cuda. Every
# model is an UNTRAINED random:<arch>: speeds and checks that nothing breaks, not detection results.
#
# Inputs, prepared where the run starts (the GPU machine lacks PyAV and the demo's MP4s need it):
#   .gpu_data/raw/asvspoof      the demo's ASVspoof-layout corpus (python -m deepfake_pipeline.demo)
#   .gpu_data/interim/          step 1's demo_fakeavceleb_eval store
#   .whl/                       wheels of what the machine's image lacks (librosa, soundfile, soxr ...)
# Output: $OUT/stages.log (one line per stage), $OUT/logs.tar.gz (every log and result file).
#   DEVICE=cpu BASE=random:tiny LARGE=random:tiny BENCH_ARCHS=tiny BENCH_SECONDS=8 bash bench/gpu_run.sh
#                                                     # a dry run of the same commands on a CPU
set -u
OUT=${OUT:-bench/out/gpu_run}   # the device tool sets OUT; bench/out/ is ignored by git
SITE=${SITE:-$PWD/bench/out/site}  # where environment() installs the carried wheels
DEVICE=${DEVICE:-cuda}
BENCH_SECONDS=${BENCH_SECONDS:-240}
BASE=${BASE:-random:base}     # the dry run takes random:tiny for both
LARGE=${LARGE:-random:large}
BENCH_ARCHS=${BENCH_ARCHS:-base large}
PY=${PY:-python3}
LOGS=$OUT/logs
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1
LA=demo_asvspoof2019
SPLITS="${LA}_train ${LA}_dev ${LA}_eval demo_fakeavceleb_eval"

stage() {  # stage NAME SECONDS COMMAND...: run it under a time limit, log it, record rc and wall time
    local name=$1 limit=$2 start end rc
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

export -f environment step1 same_scores
export PY LA
export SITE
export PYTHONPATH="$SITE"
stage env 90 environment
stage step1 120 step1
stage features_base 150 $PY features.py --what embeddings --model $BASE --splits $SPLITS --device "$DEVICE"
stage features_large 150 $PY features.py --what embeddings --model $LARGE --splits $SPLITS --device "$DEVICE"
stage step3 120 $PY eval_logreg.py --features embeddings --model $BASE --layer-sweep --train ${LA}_train \
    --dev ${LA}_dev --test ${LA}_eval demo_fakeavceleb_eval --run demo_baseline --jobs 8
stage step4 200 $PY train_contrastive.py --baseline-run results/demo_baseline --unfreeze-last 2 --device "$DEVICE" \
    --run demo_unfreeze2 --jobs 8
stage step4_again 200 $PY train_contrastive.py --baseline-run results/demo_baseline --unfreeze-last 2 \
    --device "$DEVICE" --run demo_unfreeze2_again --jobs 8
stage step4_same 30 same_scores
# --call-clips 40: the bench counts FLOPs per distinct clip length on the meta device, about 1 s
# each for the large shape, so the default 389-clip driver estimate alone took minutes there
stage bench 240 $PY bench/bench_embeddings.py --device "$DEVICE" --arch $BENCH_ARCHS --audio-seconds "$BENCH_SECONDS" \
    --repeats 2 --call-clips 40
stage bench_b128 120 $PY bench/bench_embeddings.py --device "$DEVICE" --arch ${BENCH_ARCHS%% *} --audio-seconds "$BENCH_SECONDS" \
    --batch-seconds 128 --repeats 2
tar -czf "$OUT/logs.tar.gz" --exclude='*.pt' --exclude='*.pdf' --exclude='*.png' "$LOGS" $(ls -d results/demo_* 2>/dev/null) \
    $(ls data/processed/*/*.json 2>/dev/null) 2>/dev/null
cat "$OUT/stages.log"
