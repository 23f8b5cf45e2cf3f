#!/usr/bin/env bash
# GPU check, one script, under 8 minutes on one H100/H200:
#   1. the trainer (`winnow train`) on CUDA: gpt2-124m, bf16 autocast,
#      torch.compile, fused AdamW (the trainer's CUDA default); MFU against
#      the H100/H200 bf16 dense peak (989 TFLOP/s) from metrics.jsonl;
#   2. a torchrun DDP smoke test: NCCL over every GPU when there are 2 or more,
#      otherwise 2 CPU ranks over gloo (NCCL cannot put two ranks on one GPU);
#   3. the transformers classifier scorer (what the classifier step runs) on
#      a BERT-base-shaped model, when the `winnow classifier` command exists.
# Without a CUDA device, or with --dry-run, every section runs on CPU with
# tiny sizes and the summary says "no GPU".
#
# Usage: benchmarks/gpu_check.sh [--dry-run] [--out DIR]
#   PYTHON=... picks the interpreter (default .venv/bin/python if present).
# Results: one JSON line per section in DIR/results.jsonl (default: a new
# temporary directory), and a summary at the end. Exit status 1 if any
# section failed.
set -u -o pipefail

cd "$(dirname "$0")/.."
DRY_RUN=0
OUT_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --out) OUT_DIR="$2"; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
OUT_DIR="${OUT_DIR:-$(mktemp -d -t winnow-gpucheck-XXXXXX)}"
if [ -e "$OUT_DIR/results.jsonl" ]; then
  echo "gpu_check.sh: $OUT_DIR already holds results.jsonl; pass a new --out directory" >&2
  exit 2
fi
mkdir -p "$OUT_DIR"
RESULTS="$OUT_DIR/results.jsonl"
: > "$RESULTS"
WINNOW=("$PYTHON" -m winnow.cli)
HELPER=("$PYTHON" benchmarks/gpu_check.py)
export PYTHONUNBUFFERED=1
START=$SECONDS
FAILED=()

GPUS=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)' 2>/dev/null || echo 0)
if [ "$DRY_RUN" = 1 ] || [ "$GPUS" = 0 ]; then
  MODE=cpu
  MODE_NOTE="no GPU"; [ "$GPUS" != 0 ] && MODE_NOTE="dry run ($GPUS GPU(s) present, not used)"
  DEVICE=cpu
  # Tiny everything: a CPU can run the whole script in a couple of minutes.
  TRAIN_MODEL=tiny; VOCAB=512; TOKENS=200000; BATCH=4; SEQ=64; STEPS=8; SKIP=2; COMPILE=()
  CLF_SIZE=tiny; CLF_DOCS=64; CLF_BATCH=16
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
else
  MODE=gpu
  MODE_NOTE="$GPUS GPU(s): $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)"
  DEVICE=cuda
  # gpt2-124m at GPT-2's shape; 60 steps of 16 x 1024 tokens, the first 10
  # (compilation, allocator and autotuning warm-up) left out of the medians.
  TRAIN_MODEL=gpt2-124m; VOCAB=50304; TOKENS=3000000; BATCH=16; SEQ=1024; STEPS=60; SKIP=10; COMPILE=(--compile)
  CLF_SIZE=base; CLF_DOCS=4096; CLF_BATCH=128
fi

section() { echo; echo "=== $1 ($((SECONDS - START)) s elapsed)"; }
# run NAME TIMEOUT CMD...: runs CMD with a time limit, appends its JSON line to
# results.jsonl, records a failure without stopping the script.
run() {
  local name=$1 limit=$2; shift 2
  local log="$OUT_DIR/$name.log"
  if timeout "$limit" "$@" > "$log.out" 2> "$log"; then
    # Only the helper's JSON lines are results; `winnow train` prints prose.
    tail -n 1 "$log.out" | grep '^{' >> "$RESULTS" || true
    tail -n 1 "$log" >&2
    return 0
  fi
  local rc=$?
  FAILED+=("$name (exit $rc; log $log)")
  echo "FAILED: $name (exit $rc); last lines of $log:" >&2
  tail -n 15 "$log" >&2
  return 1
}

section "environment: $MODE_NOTE"
"$PYTHON" -c 'import sys, torch; print("python", sys.version.split()[0], "| torch", torch.__version__, "| cuda", torch.version.cuda, "| devices", torch.cuda.device_count())'
[ "$MODE" = gpu ] && nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv

section "data: $TOKENS synthetic tokens, vocab $VOCAB, through winnow tokenize"
DATA="$OUT_DIR/data"
if ! run data 300 "${HELPER[@]}" data "$DATA" --vocab "$VOCAB" --tokens "$TOKENS"; then
  echo "gpu_check.sh: no token data, nothing else can run" >&2
  exit 1
fi

section "1. trainer: $TRAIN_MODEL on $DEVICE, batch $BATCH x $SEQ, $STEPS steps ${COMPILE[*]:-(eager)}"
# checkpoint_every > steps: only the final checkpoint is written, so the
# measured steps do not include checkpoint I/O.
if run train 330 "${WINNOW[@]}" train --input "$DATA/tokens" --model "$TRAIN_MODEL" --output "$OUT_DIR/run-train" \
    --device "$DEVICE" "${COMPILE[@]}" --batch-size "$BATCH" --seq-len "$SEQ" --max-steps "$STEPS" \
    --warmup-steps 5 --checkpoint-every 100000 --eval-every 0 --no-progress; then
  run train-summary 60 "${HELPER[@]}" summary "$OUT_DIR/run-train" --skip "$SKIP" --name "train-$TRAIN_MODEL-$DEVICE"
fi

section "2. torchrun DDP smoke test"
if [ "$MODE" = gpu ] && [ "$GPUS" -ge 2 ]; then
  RANKS=$GPUS; DDP_DEVICE=cuda; DDP_MODEL=small; DDP_BATCH=8; DDP_SEQ=512; DDP_STEPS=20
else
  # One GPU (or none): NCCL refuses two ranks on one device, so the
  # launcher, gloo all-reduce and rank-0-only writing are checked on CPU.
  RANKS=2; DDP_DEVICE=cpu; DDP_MODEL=tiny; DDP_BATCH=2; DDP_SEQ=64; DDP_STEPS=4
  [ "$MODE" = gpu ] && echo "one GPU: NCCL DDP needs 2 or more; running 2 CPU ranks over gloo instead"
fi
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DDP_ENV=(env -u RANK -u WORLD_SIZE -u LOCAL_RANK -u LOCAL_WORLD_SIZE OMP_NUM_THREADS=1)
if run ddp 240 "${DDP_ENV[@]}" "$PYTHON" -m torch.distributed.run --nnodes=1 --nproc_per_node="$RANKS" \
    --master_addr=127.0.0.1 --master_port="$PORT" -m winnow.cli train --input "$DATA/tokens" --model "$DDP_MODEL" \
    --output "$OUT_DIR/run-ddp" --device "$DDP_DEVICE" --batch-size "$DDP_BATCH" --seq-len "$DDP_SEQ" \
    --max-steps "$DDP_STEPS" --warmup-steps 1 --checkpoint-every 100000 --eval-every 0 --no-progress; then
  run ddp-summary 60 "${HELPER[@]}" summary "$OUT_DIR/run-ddp" --skip 1 --name "ddp-$RANKS-ranks-$DDP_DEVICE"
fi

section "3. transformers classifier step ($CLF_SIZE, $CLF_DOCS documents, max_length 512)"
if "${WINNOW[@]}" classifier --help > /dev/null 2>&1 \
    && "$PYTHON" -c 'import transformers, winnow.curation.classifier.hf_backend' 2> /dev/null; then
  run classifier 180 "${HELPER[@]}" classifier --device "$DEVICE" --size "$CLF_SIZE" --docs "$CLF_DOCS" --batch-size "$CLF_BATCH"
else
  echo "skipped: no \`winnow classifier\` command with a transformers backend in this checkout (or transformers is not installed)"
  echo '{"section": "classifier", "skipped": "no winnow classifier command with a transformers backend"}' >> "$RESULTS"
fi

section "summary: $MODE_NOTE, $((SECONDS - START)) s in all; results in $RESULTS"
cat "$RESULTS"
if [ ${#FAILED[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${FAILED[@]}"
  exit 1
fi
echo "all sections passed"
