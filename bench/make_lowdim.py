#!/usr/bin/python3
"""Generated float embeddings with a low intrinsic dimension, for HNSW scaling runs (issue 14).

usage: make_lowdim.py OUT_DIR [--n 1000000] [--dim 100] [--latent 32] [--queries 1000]
                      [--prefixes 100000,300000,1000000] [--seed 20261130]
       (/usr/bin/python3 with numpy)

How the points are made: a latent point z in R^latent is drawn from a mixture of 64 Gaussian
clusters (centres N(0, 1), each cluster with its own per-axis spread in [0.2, 0.8]); it is mapped
into R^dim by a fixed random two-layer network, x = tanh(z W1) W2 (W1: latent x 4*latent,
W2: 4*latent x dim, Gaussian weights), plus isotropic noise of 2 % of x's scale. So the points lie
near a curved latent-dimensional surface inside R^dim, with clusters of different sizes and
shapes: like real embeddings (GloVe-100's intrinsic dimension estimated the same way is printed
for comparison when --glove is given), unlike isotropic Gaussian clusters, whose neighbourhoods
carry no structure. Queries are drawn from the same distribution and are not in the base.

Writes OUT_DIR/base.fvecs (n rows), query.fvecs, and for each prefix P the exact cosine top-100
of each query among the first P base rows: groundtruth_cosine_P.ivecs. Prints the TwoNN
intrinsic-dimension estimate (Facco et al. 2017) of a 5,000-point sample.
"""
import argparse, os, sys
import numpy as np


def write_vecs(path, a, dtype):
    a = np.ascontiguousarray(a, dtype=dtype)
    rows = np.empty((a.shape[0], a.shape[1] + 1), dtype=np.int32)
    rows[:, 0] = a.shape[1]
    rows[:, 1:] = a.view(np.int32)
    rows.tofile(path)


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(np.float32)


def unit(a):
    a = a.astype(np.float32)
    n = np.linalg.norm(a, axis=1, keepdims=True)
    n[n == 0] = 1
    return a / n


def two_nn(x, rng, sample=5000):
    """TwoNN: d = N / sum(log(r2 / r1)) over a sample, distances by cosine (angular) geometry."""
    idx = rng.choice(len(x), min(sample, len(x)), replace=False)
    s = unit(x[idx])
    ratios = []
    for i in range(0, len(s), 1000):
        sim = s[i:i + 1000] @ s.T
        sim[np.arange(sim.shape[0]), np.arange(i, i + sim.shape[0])] = -np.inf  # not itself
        top = -np.sort(-sim, axis=1)[:, :2]
        d = np.sqrt(np.maximum(2 - 2 * top, 0))
        ok = d[:, 0] > 0
        ratios.extend((d[ok, 1] / d[ok, 0]).tolist())
    mu = np.array(ratios)
    mu = mu[mu > 1]
    return len(mu) / np.sum(np.log(mu))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--prefixes", default="100000,300000,1000000")
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--glove", help="GloVe-100 base.fvecs, to print its TwoNN estimate too")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    clusters = 64
    centres = rng.normal(0, 1, (clusters, a.latent))
    spread = rng.uniform(0.2, 0.8, (clusters, a.latent))
    weights = rng.dirichlet(np.full(clusters, 2.0))
    w1 = rng.normal(0, 1 / np.sqrt(a.latent), (a.latent, 4 * a.latent))
    w2 = rng.normal(0, 1 / np.sqrt(4 * a.latent), (4 * a.latent, a.dim))

    def draw(m):
        c = rng.choice(clusters, m, p=weights)
        z = centres[c] + rng.normal(0, 1, (m, a.latent)) * spread[c]
        x = np.tanh(z @ w1) @ w2
        x += rng.normal(0, 0.02 * np.std(x), x.shape)
        return x.astype(np.float32)

    base = np.concatenate([draw(min(100_000, a.n - i)) for i in range(0, a.n, 100_000)])
    query = draw(a.queries)
    write_vecs(os.path.join(a.out, "base.fvecs"), base, np.float32)
    write_vecs(os.path.join(a.out, "query.fvecs"), query, np.float32)
    qn = unit(query)
    for p in [int(s) for s in a.prefixes.split(",")]:
        p = min(p, a.n)
        best_s = np.full((a.queries, 100), -np.inf, np.float32)
        best_i = np.zeros((a.queries, 100), np.int64)
        for i in range(0, p, 100_000):
            sim = qn @ unit(base[i:min(p, i + 100_000)]).T
            top = np.argpartition(-sim, 100, axis=1)[:, :100]
            s = np.take_along_axis(sim, top, axis=1)
            cs = np.concatenate([best_s, s], axis=1)
            ci = np.concatenate([best_i, top + i], axis=1)
            keep = np.argpartition(-cs, 100, axis=1)[:, :100]
            best_s = np.take_along_axis(cs, keep, axis=1)
            best_i = np.take_along_axis(ci, keep, axis=1)
        order = np.argsort(-best_s, axis=1, kind="stable")
        gt = np.take_along_axis(best_i, order, axis=1).astype(np.int32)
        write_vecs(os.path.join(a.out, f"groundtruth_cosine_{p}.ivecs"), gt, np.int32)
        print(f"ground truth for the first {p} rows written", flush=True)
    print(f"generated: TwoNN intrinsic dimension {two_nn(base, rng):.1f} "
          f"(latent {a.latent}, ambient {a.dim})")
    if a.glove:
        print(f"GloVe-100: TwoNN intrinsic dimension {two_nn(read_fvecs(a.glove), rng):.1f}")


if __name__ == "__main__":
    sys.exit(main())
