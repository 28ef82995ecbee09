// The exact empirical score on an NVIDIA GPU (diffscope::score::cuda; science.md §2).
//
// Compiled by NVRTC at first use for the device's own architecture, with the dimension and tile sizes as
// macros prepended by the host (D, KP, FUSED, BQ, BN, NT, WANT_TOP). Conventions are the CPU kernel's:
// training points centred on their mean c and augmented, a~ = (a - c, |a - c|^2, 0 ...) (KP floats a row);
// queries augmented and scaled, x~ = log2(e) e^{-t}/Delta (x - e^{-t} c, -e^{-t}/2, 0 ...), so that
// x~ . a~ = y, the logit in log2 units. Every reduction runs in a fixed order (no atomics): the same input
// gives the same bits run after run, and a query's result never depends on the other queries of its batch.

#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

// Top-2 of (logit, index) pairs: strictly larger logits win, ties go to the smaller index (the order in
// which the CPU scan meets points).
struct Top2 { float y1; int i1; float y2; int i2; };

__device__ __forceinline__ bool better(float ya, int ia, float yb, int ib) {
    return ya > yb || (ya == yb && ia < ib && ya != -INFINITY);
}

__device__ __forceinline__ void top_offer(Top2 &t, float y, int i) {
    if (better(y, i, t.y1, t.i1)) { t.y2 = t.y1; t.i2 = t.i1; t.y1 = y; t.i1 = i; }
    else if (i != t.i1 && better(y, i, t.y2, t.i2)) { t.y2 = y; t.i2 = i; }
}

__device__ __forceinline__ Top2 top_empty() { Top2 t; t.y1 = -INFINITY; t.i1 = 0x7fffffff; t.y2 = -INFINITY; t.i2 = 0x7fffffff; return t; }

__device__ __forceinline__ Top2 top_merge(Top2 a, const Top2 &b) {
    top_offer(a, b.y1, b.i1);
    top_offer(a, b.y2, b.i2);
    return a;
}

__device__ __forceinline__ Top2 warp_top(Top2 t) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        Top2 u;
        u.y1 = __shfl_xor_sync(0xffffffffu, t.y1, o); u.i1 = __shfl_xor_sync(0xffffffffu, t.i1, o);
        u.y2 = __shfl_xor_sync(0xffffffffu, t.y2, o); u.i2 = __shfl_xor_sync(0xffffffffu, t.i2, o);
        // Merge in lane order so that every lane ends with the same, order-independent result.
        t = top_merge(t, u);
    }
    return t;
}

__device__ __forceinline__ float warp_max(float v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float warp_sum(float v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ double warp_sum_d(double v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Stage 1: the augmented, scaled queries (KP floats a row, f32) and the shifted queries x - e^{-t} c (D
// doubles a row) for the finish. scale = log2(e) e^{-t}/Delta. One block per query.
extern "C" __global__ void prep_queries(const float *__restrict__ x, const double *__restrict__ centre,
                                        int b, double decay, double scale, float *__restrict__ xq,
                                        double *__restrict__ xs) {
    int q = blockIdx.x;
    if (q >= b) return;
    for (int k = threadIdx.x; k < KP; k += blockDim.x) {
        float v = 0.0f;
        if (k < D) {
            double s = (double)x[(size_t)q * D + k] - decay * centre[k];
            xs[(size_t)q * D + k] = s;
            v = (float)(scale * s);
        } else if (k == D) {
            v = (float)(-scale * decay / 2.0);
        }
        xq[(size_t)q * KP + k] = v;
    }
}

// Philox4x32-10 (Salmon et al., SC'11): a counter-based generator, 4 uint32 per (counter, key).
__device__ __forceinline__ uint4 philox(uint4 c, uint2 k) {
    #pragma unroll
    for (int r = 0; r < 10; ++r) {
        unsigned int hi0 = __umulhi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        unsigned int hi1 = __umulhi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k.x += 0x9E3779B9u; k.y += 0xBB67AE85u;
    }
    return c;
}

// One Euler-Maruyama step of the reverse SDE on the device, x <- x + h (x + 2 s) + amp xi, h = dt,
// amp = sqrt(2 dt); xi standard normal from Philox keyed by `key` (the run's seed, derived on the host)
// at counter (trajectory first + row, step k, coordinate j / 4): the noise of trajectory i at step k is a
// function of (seed, i, k) alone, as the CPU's NoiseKey streams are (a different generator: GPU runs are
// not bitwise the CPU's).
extern "C" __global__ void em_step(float *__restrict__ x, const float *__restrict__ s, int b, float h,
                                   float amp, unsigned long long key, unsigned long long first,
                                   unsigned int k) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)b * D) return;
    unsigned long long row = first + (unsigned long long)(idx / D);
    int j = (int)(idx % D);
    uint4 r = philox(make_uint4((unsigned int)row, (unsigned int)(row >> 32), k, (unsigned int)(j >> 2)),
                     make_uint2((unsigned int)key, (unsigned int)(key >> 32)));
    // Box-Muller on the pair holding coordinate j: (x, y) for j % 4 < 2, (z, w) otherwise.
    unsigned int u1 = (j & 2) ? r.z : r.x, u2 = (j & 2) ? r.w : r.y;
    float f1 = ((float)(u1 >> 8) + 1.0f) * (1.0f / 16777216.0f); // (0, 1]
    float f2 = (float)(u2 >> 8) * (1.0f / 16777216.0f);          // [0, 1)
    float rad = sqrtf(-2.0f * logf(f1));
    float z = (j & 1) ? rad * sinpif(2.0f * f2) : rad * cospif(2.0f * f2);
    float xv = x[idx];
    x[idx] = xv + h * (xv + 2.0f * s[idx]) + amp * z;
}

#if FUSED
// Stage 2 (d + 1 <= 128): one fused pass per (query tile of BQ, split of the training points): the logits
// of a BQ x BN tile by a register-blocked product from shared memory, the online softmax per query (warp
// per row, shuffle reductions), the weighted sum into registers; at the end the split's partial state
// (max, sum, weighted sum, top-2) per query. Splits are folded by `combine` in split order.
#define LQ 16
#define LN 16
#define TLQ (BQ / LQ)
#define TLN (BN / LN)
#define PC 32
#define PQ (NT / PC)
#define TQ (BQ / PQ)
#define CPT ((D + PC - 1) / PC)
// Row strides of the query and point tiles (row-major, KP floats a row): KP plus a pad that makes the
// stride an odd number of 16-byte words, so that float4 reads of consecutive rows hit distinct banks.
#define SX (KP + ((KP / 4) % 2 == 0 ? 4 : 8))
#define SA SX
#define SP (BN + 4)

extern "C" __global__ void __launch_bounds__(NT) flash_partial(
    const float *__restrict__ a, const float *__restrict__ xq, int n, int b, int tiles_per_split,
    float *__restrict__ part_m, float *__restrict__ part_l, float *__restrict__ part_o,
    float *__restrict__ part_y, int *__restrict__ part_i) {
    extern __shared__ __align__(16) float smem[];
    float *xs = smem;                 // BQ x SX: the queries x~, row-major
    float *as = xs + BQ * SX;         // BN x SA: the tile's points a~, row-major
    float *ps = as + BN * SA;         // BQ x SP: logits, then weights
    float *row_m = ps + BQ * SP;      // BQ
    float *row_l = row_m + BQ;        // BQ
    float *row_alpha = row_l + BQ;    // BQ
    Top2 *row_top = (Top2 *)(row_alpha + BQ); // BQ

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int q0 = blockIdx.x * BQ, split = blockIdx.y;
    const int ntiles = (n + BN - 1) / BN;
    const int t0 = split * tiles_per_split, t1 = min(t0 + tiles_per_split, ntiles);

    for (int e = tid; e < BQ * (KP / 4); e += NT) {
        int q = e / (KP / 4), k = 4 * (e % (KP / 4));
        *(float4 *)&xs[q * SX + k] = (q0 + q < b) ? *(const float4 *)&xq[(size_t)(q0 + q) * KP + k]
                                                   : make_float4(0.f, 0.f, 0.f, 0.f);
    }
    for (int q = tid; q < BQ; q += NT) { row_m[q] = -INFINITY; row_l[q] = 0.0f; row_top[q] = top_empty(); }

    const int lq = tid / LN, ln = tid % LN;   // logits: rows lq + LQ*i, points ln + LN*j
    const int pq = tid / PC, pc = tid % PC;   // weighted sum: rows pq*TQ.., columns pc + PC*j
    float o[TQ][CPT];
    #pragma unroll
    for (int i = 0; i < TQ; ++i)
        #pragma unroll
        for (int j = 0; j < CPT; ++j) o[i][j] = 0.0f;

    for (int tile = t0; tile < t1; ++tile) {
        const int n0 = tile * BN;
        __syncthreads();
        for (int e = tid; e < BN * (KP / 4); e += NT) {
            int r = e / (KP / 4), k = 4 * (e % (KP / 4));
            *(float4 *)&as[r * SA + k] = (n0 + r < n) ? *(const float4 *)&a[(size_t)(n0 + r) * KP + k]
                                                       : make_float4(0.f, 0.f, 0.f, 0.f);
        }
        __syncthreads();
        // Logits: TLQ x TLN per thread, float4 reads along the coordinates (k in order, one FMA chain
        // per element).
        float acc[TLQ][TLN];
        #pragma unroll
        for (int i = 0; i < TLQ; ++i)
            #pragma unroll
            for (int j = 0; j < TLN; ++j) acc[i][j] = 0.0f;
        #pragma unroll 2
        for (int k = 0; k < KP; k += 4) {
            float4 xv[TLQ], av[TLN];
            #pragma unroll
            for (int i = 0; i < TLQ; ++i) xv[i] = *(const float4 *)&xs[(lq + LQ * i) * SX + k];
            #pragma unroll
            for (int j = 0; j < TLN; ++j) av[j] = *(const float4 *)&as[(ln + LN * j) * SA + k];
            #pragma unroll
            for (int i = 0; i < TLQ; ++i)
                #pragma unroll
                for (int j = 0; j < TLN; ++j) {
                    acc[i][j] = fmaf(xv[i].x, av[j].x, acc[i][j]);
                    acc[i][j] = fmaf(xv[i].y, av[j].y, acc[i][j]);
                    acc[i][j] = fmaf(xv[i].z, av[j].z, acc[i][j]);
                    acc[i][j] = fmaf(xv[i].w, av[j].w, acc[i][j]);
                }
        }
        #pragma unroll
        for (int i = 0; i < TLQ; ++i)
            #pragma unroll
            for (int j = 0; j < TLN; ++j) {
                int c = ln + LN * j;
                ps[(lq + LQ * i) * SP + c] = (n0 + c < n) ? acc[i][j] : -INFINITY;
            }
        __syncthreads();
        // Online softmax: a warp per row.
        for (int q = warp; q < BQ; q += NT / 32) {
            float y0 = ps[q * SP + lane], y1 = ps[q * SP + lane + 32];
            float tmax = warp_max(fmaxf(y0, y1));
#if WANT_TOP
            Top2 t = top_empty();
            top_offer(t, y0, n0 + lane);
            top_offer(t, y1, n0 + lane + 32);
            t = warp_top(t);
            if (lane == 0) row_top[q] = top_merge(row_top[q], t);
#endif
            float mold = row_m[q];
            float mnew = fmaxf(mold, tmax);
            float alpha = exp2f(mold - mnew);
            float p0 = exp2f(y0 - mnew), p1 = exp2f(y1 - mnew);
            ps[q * SP + lane] = p0;
            ps[q * SP + lane + 32] = p1;
            float s = warp_sum(p0 + p1);
            __syncwarp();
            if (lane == 0) { row_l[q] = row_l[q] * alpha + s; row_m[q] = mnew; row_alpha[q] = alpha; }
        }
        __syncthreads();
        // Weighted sum: o = alpha o + P A.
        #pragma unroll
        for (int i = 0; i < TQ; ++i) {
            float al = row_alpha[pq * TQ + i];
            #pragma unroll
            for (int j = 0; j < CPT; ++j) o[i][j] *= al;
        }
        #pragma unroll 2
        for (int r = 0; r < BN; r += 4) {
            float4 av[CPT];
            #pragma unroll
            for (int j = 0; j < CPT; ++j) {
                int c = pc + PC * j;
                av[j] = (c < D) ? make_float4(as[r * SA + c], as[(r + 1) * SA + c], as[(r + 2) * SA + c],
                                              as[(r + 3) * SA + c])
                                : make_float4(0.f, 0.f, 0.f, 0.f);
            }
            #pragma unroll
            for (int i = 0; i < TQ; ++i) {
                float4 p = *(const float4 *)&ps[(pq * TQ + i) * SP + r];
                #pragma unroll
                for (int j = 0; j < CPT; ++j) {
                    o[i][j] = fmaf(p.x, av[j].x, o[i][j]);
                    o[i][j] = fmaf(p.y, av[j].y, o[i][j]);
                    o[i][j] = fmaf(p.z, av[j].z, o[i][j]);
                    o[i][j] = fmaf(p.w, av[j].w, o[i][j]);
                }
            }
        }
    }
    __syncthreads();
    #pragma unroll
    for (int i = 0; i < TQ; ++i) {
        int q = q0 + pq * TQ + i;
        if (q >= b) continue;
        #pragma unroll
        for (int j = 0; j < CPT; ++j) {
            int c = pc + PC * j;
            if (c < D) part_o[((size_t)split * b + q) * D + c] = o[i][j];
        }
    }
    for (int qq = tid; qq < BQ; qq += NT) {
        int q = q0 + qq;
        if (q >= b) continue;
        size_t s = (size_t)split * b + q;
        part_m[s] = row_m[qq];
        part_l[s] = row_l[qq];
#if WANT_TOP
        Top2 t = row_top[qq];
        part_y[2 * s] = t.y1; part_y[2 * s + 1] = t.y2;
        part_i[2 * s] = t.i1; part_i[2 * s + 1] = t.i2;
#endif
    }
}

// Stage 3 (fused path): fold the splits' partial states of each query in split order (in f64), and
// finish: S = (e^{-t} v / l - (x - e^{-t} c)) / Delta. One block per query.
extern "C" __global__ void combine(const float *__restrict__ part_m, const float *__restrict__ part_l,
                                   const float *__restrict__ part_o, const float *__restrict__ part_y,
                                   const int *__restrict__ part_i, int splits, int b,
                                   const double *__restrict__ xsh, double decay, double delta,
                                   float *__restrict__ out, float *__restrict__ stat_m,
                                   double *__restrict__ stat_l, float *__restrict__ top_y,
                                   int *__restrict__ top_i) {
    __shared__ double fac[MAX_SPLITS];
    int q = blockIdx.x;
    if (q >= b) return;
    float m = -INFINITY;
    for (int s = 0; s < splits; ++s) m = fmaxf(m, part_m[(size_t)s * b + q]);
    for (int s = threadIdx.x; s < splits; s += blockDim.x) {
        size_t i = (size_t)s * b + q;
        fac[s] = part_l[i] > 0.0f ? exp2((double)part_m[i] - (double)m) : 0.0;
    }
    __syncthreads();
    double l = 0.0;
    for (int s = 0; s < splits; ++s) l += (double)part_l[(size_t)s * b + q] * fac[s];
    for (int c = threadIdx.x; c < D; c += blockDim.x) {
        double v = 0.0;
        for (int s = 0; s < splits; ++s) v += (double)part_o[((size_t)s * b + q) * D + c] * fac[s];
        out[(size_t)q * D + c] = (float)((decay * (v / l) - xsh[(size_t)q * D + c]) / delta);
    }
    if (threadIdx.x == 0) {
        stat_m[q] = m;
        stat_l[q] = l;
#if WANT_TOP
        Top2 t = top_empty();
        for (int s = 0; s < splits; ++s) {
            size_t i = (size_t)s * b + q;
            Top2 u; u.y1 = part_y[2 * i]; u.y2 = part_y[2 * i + 1]; u.i1 = part_i[2 * i]; u.i2 = part_i[2 * i + 1];
            t = top_merge(t, u);
        }
        top_y[2 * q] = t.y1; top_y[2 * q + 1] = t.y2;
        top_i[2 * q] = t.i1; top_i[2 * q + 1] = t.i2;
#endif
    }
}
#else
// Stage 2 (d + 1 > 128), between two cuBLAS SGEMMs (fp32, no TF32): the logits Y = X~ A~^T (b x n) are
// turned in place into weights 2^{y - max} per row, with the row's max, sum (f64) and top-2. One block
// of NT threads per row; block reductions in a fixed tree.
extern "C" __global__ void __launch_bounds__(NT) row_softmax(float *__restrict__ y, int n, int b,
                                                             float *__restrict__ stat_m,
                                                             double *__restrict__ stat_l,
                                                             float *__restrict__ top_y,
                                                             int *__restrict__ top_i) {
    __shared__ float red_f[32];
    __shared__ double red_d[32];
    __shared__ Top2 red_t[32];
    int q = blockIdx.x;
    if (q >= b) return;
    float *row = y + (size_t)q * n;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = NT / 32;
    float m = -INFINITY;
#if WANT_TOP
    Top2 t = top_empty();
#endif
    for (int i = tid; i < n; i += NT) {
        float v = row[i];
        m = fmaxf(m, v);
#if WANT_TOP
        top_offer(t, v, i);
#endif
    }
    m = warp_max(m);
    if (lane == 0) red_f[warp] = m;
#if WANT_TOP
    t = warp_top(t);
    if (lane == 0) red_t[warp] = t;
#endif
    __syncthreads();
    m = -INFINITY;
    for (int w = 0; w < nw; ++w) m = fmaxf(m, red_f[w]);
    double s = 0.0;
    for (int i = tid; i < n; i += NT) {
        float p = exp2f(row[i] - m);
        row[i] = p;
        s += (double)p;
    }
    s = warp_sum_d(s);
    if (lane == 0) red_d[warp] = s;
    __syncthreads();
    if (tid == 0) {
        double l = 0.0;
        for (int w = 0; w < nw; ++w) l += red_d[w];
        stat_m[q] = m;
        stat_l[q] = l;
#if WANT_TOP
        Top2 tt = top_empty();
        for (int w = 0; w < nw; ++w) tt = top_merge(tt, red_t[w]);
        top_y[2 * q] = tt.y1; top_y[2 * q + 1] = tt.y2;
        top_i[2 * q] = tt.i1; top_i[2 * q + 1] = tt.i2;
#endif
    }
}

// Stage 4 (cuBLAS path): S = (e^{-t} v / l - (x - e^{-t} c)) / Delta from v = W A~ (b x KP).
extern "C" __global__ void finish_gemm(const float *__restrict__ v, const double *__restrict__ stat_l,
                                       const double *__restrict__ xsh, int b, double decay, double delta,
                                       float *__restrict__ out) {
    int q = blockIdx.x;
    if (q >= b) return;
    double l = stat_l[q];
    for (int c = threadIdx.x; c < D; c += blockDim.x)
        out[(size_t)q * D + c] =
            (float)((decay * ((double)v[(size_t)q * KP + c] / l) - xsh[(size_t)q * D + c]) / delta);
}
#endif
