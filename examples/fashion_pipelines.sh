#!/usr/bin/env bash
# The seed pipelines on real images, end to end with the CLI (issue #13). Run from the repository root
# after the main job's build (`cargo build --release -p diffscope-cli`); results go to runs/pipelines/.
#
# Data: Fashion-MNIST, training split, classes 0 (T-shirt/top) and 1 (Trouser): 12 000 images, d = 784,
# centred per feature. The pair is chosen because its class split dominates the covariance (the top
# principal direction separates the two silhouettes), which is the structure the two-class speciation
# theory describes; a similar pair (T-shirt vs Shirt) would put the class split below the within-class
# variance and blur t_S.
#
#   1. exact empirical score: speciation and collapse by cloning, t_S beside ½ log Λ of the data;
#   2. an MLP score trained on the same data, then cloning on the trained network (does it collapse?);
#   3. the trained model's samples vs their Gaussian surrogate (universality), their spectrum and tails
#      beside those of the real data;
#   4. heavy tails: examples/heavy_tails.py (Python).
set -euo pipefail
cd "$(dirname "$0")/.."
D=${DIFFSCOPE:-target/release/diffscope}
F=../shared/data/fashion-mnist/train-images-idx3-ubyte.gz
OUT=${OUT:-runs/pipelines}
DATA=(--data "$F" --classes 0,1)

# 1. Exact score: t_S measured (95 % CI) beside ½ log Λ, t_C measured; samples.png shows the copies. The
#    log-spaced grid puts branch times down to the collapse phase (a uniform grid stops at t_b ≈ 0.3).
time "$D" --seed 1 regimes "${DATA[@]}" --batch 500 --pairs 250 --spacing log --out "$OUT/1-exact"

# 2. Train an MLP score on the same (centred) images, then clone its trajectories.
time "$D" --seed 1 train "${DATA[@]}" --centre --width 512 --depth 3 --steps 6000 --out "$OUT/2-train"
time "$D" --seed 1 regimes "${DATA[@]}" --score "$OUT/2-train/model.safetensors" --batch 500 --pairs 250 \
    --spacing log --out "$OUT/2-learned"

# 3. Generated data (labels: the class of the nearest training image) vs its Gaussian surrogate, and the
#    smallest covariance eigenvalues and tails of generated vs real data.
time "$D" --seed 2 sample "${DATA[@]}" --centre --score "$OUT/2-train/model.safetensors" -b 4000 \
    -o "$OUT/3-generated.npz"
for src in generated real; do
    if [ "$src" = generated ]; then S=("$OUT/3-generated.npz"); else S=("$F" --classes 0,1 --centre); fi
    time "$D" universality "${S[@]}" --classifier ridge --ns 10,20,40,80,160,320 --seeds 5 \
        --out "$OUT/3-universality-$src"
    time "$D" spectrum "${S[@]}" --out "$OUT/3-spectrum-$src"
    time "$D" concentration "${S[@]}" --out "$OUT/3-concentration-$src"
done
