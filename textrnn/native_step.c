/* One-token steps of a recurrent language model (RNN, LSTM, GRU) on the CPU, and the
 * choice of the next token, for generating one sequence at a time.
 *
 * textrnn compiles this file on first use and calls it through ctypes (textrnn/native.py).
 * One step of one sequence is a few matrix-vector products plus a few thousand scalar
 * operations. Done as PyTorch calls, each of the ~20 calls costs about a microsecond of
 * dispatch, as much as the arithmetic itself. The matrix-vector products here go to the
 * BLAS that PyTorch itself uses (its exported Fortran sgemv_), so they cost what torch's do.
 *
 * Weights are row-major, as torch stores them: (rows, columns) with y = W x + b.
 * Gate order is torch's: LSTM i, f, g, o; GRU r, z, n, with b_hn inside r * (W_hn h + b_hn).
 */
#include <math.h> /* INFINITY only: nothing here calls libm */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void (*sgemv_fn)(const char *trans, const int *m, const int *n, const float *alpha,
                         const float *a, const int *lda, const float *x, const int *incx,
                         const float *beta, float *y, const int *incy);

enum { CELL_TANH = 0, CELL_RELU = 1, CELL_LSTM = 2, CELL_GRU = 3 };

struct ranked;

/* Mirrored by textrnn.native.RecurrentModel; every pointer stays owned by Python. */
struct recurrent_model {
    sgemv_fn sgemv;
    int32_t cell, layers, hidden, vocab, embedding_dim;
    const float *table;                /* (vocab, G*hidden) layer 0's input gates, biases in; or NULL */
    const float *embedding;            /* (vocab, embedding_dim), used when table is NULL */
    const float *const *input_weight;  /* per layer (G*hidden, inputs); [0] unused with a table */
    const float *const *hidden_weight; /* per layer (G*hidden, hidden) */
    const float *const *bias;          /* per layer (G*hidden), added to the input side */
    const float *const *hidden_bias;   /* GRU: per layer (hidden) b_hn; else unused */
    const float *decoder_weight;       /* (vocab, hidden) */
    const float *decoder_bias;         /* (vocab) */
    float *h, *c;                      /* state (layers, hidden), updated in place; c: LSTM only */
    float *gates, *hidden_gates;       /* scratch (G*hidden) */
    float *logits, *cdf;               /* (vocab) */
    struct ranked *ranked;             /* (vocab) scratch for top-k and top-p */
};

/* y = W x (+ b, or + y when accumulate); W row-major (rows, cols), i.e. BLAS's transposed
 * column-major (cols, rows) matrix. */
static void affine(const struct recurrent_model *m, const float *w, const float *x, const float *b,
                   float *y, int rows, int cols, int accumulate) {
    const char trans = 'T';
    const int one = 1;
    const float alpha = 1.0f;
    float beta = 1.0f;
    if (b)
        memcpy(y, b, sizeof(float) * (size_t)rows);
    else if (!accumulate)
        beta = 0.0f; /* BLAS then ignores y's old contents */
    m->sgemv(&trans, &cols, &rows, &alpha, w, &cols, x, &one, &beta, y, &one);
}

/* exp(x) after Cephes' expf (relative error about 1e-7), written without calls or branches
 * so that loops over it vectorize; 0 below -87 (so exp(-inf) = 0), saturating above 88. */
static inline float exp_approx(float x) {
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding and subtracting it rounds to an integer */
    float t = x > 88.0f ? 88.0f : (x < -87.0f ? -87.0f : x);
    float n = (t * 1.44269504088896341f + shifter) - shifter;
    float r = t - n * 0.693359375f + n * 2.12194440e-4f; /* t - n ln 2, in two parts */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } scale;
    scale.i = ((int32_t)n + 127) << 23; /* 2^n */
    return x < -87.0f ? 0.0f : p * scale.f;
}

static inline float sigmoid(float x) { return 1.0f / (1.0f + exp_approx(-x)); }
static inline float tanh_approx(float x) { return 2.0f / (1.0f + exp_approx(-2.0f * x)) - 1.0f; }

/* Layer l: the input side is already in m->gates; update h (and c) of this layer. */
static void cell_update(const struct recurrent_model *m, int l) {
    const int H = m->hidden;
    float *h = m->h + (size_t)l * H, *g = m->gates;
    if (m->cell == CELL_GRU) {
        float *hg = m->hidden_gates;
        const float *bhn = m->hidden_bias[l];
        affine(m, m->hidden_weight[l], h, NULL, hg, 3 * H, H, 0);
        for (int j = 0; j < H; j++) {
            float r = sigmoid(g[j] + hg[j]);
            float z = sigmoid(g[H + j] + hg[H + j]);
            float n = tanh_approx(g[2 * H + j] + r * (hg[2 * H + j] + bhn[j]));
            h[j] = n + z * (h[j] - n);
        }
        return;
    }
    int gates = m->cell == CELL_LSTM ? 4 : 1;
    affine(m, m->hidden_weight[l], h, NULL, g, gates * H, H, 1); /* reads all of h before it changes */
    if (m->cell == CELL_LSTM) {
        float *c = m->c + (size_t)l * H;
        for (int j = 0; j < H; j++) {
            float i = sigmoid(g[j]), f = sigmoid(g[H + j]), u = tanh_approx(g[2 * H + j]);
            float o = sigmoid(g[3 * H + j]);
            c[j] = f * c[j] + i * u;
            h[j] = o * tanh_approx(c[j]);
        }
    } else if (m->cell == CELL_RELU) {
        for (int j = 0; j < H; j++)
            h[j] = g[j] > 0.0f ? g[j] : 0.0f;
    } else {
        for (int j = 0; j < H; j++)
            h[j] = tanh_approx(g[j]);
    }
}

/* Feed one token; the next token's logits land in m->logits. Returns -1 (and changes
 * nothing) for a token outside the vocabulary, else 0. */
int32_t textrnn_step(const struct recurrent_model *m, int64_t token) {
    const int H = m->hidden, G = m->cell == CELL_LSTM ? 4 : m->cell == CELL_GRU ? 3 : 1;
    if (token < 0 || token >= m->vocab)
        return -1;
    for (int l = 0; l < m->layers; l++) {
        if (l > 0)
            affine(m, m->input_weight[l], m->h + (size_t)(l - 1) * H, m->bias[l], m->gates, G * H, H, 0);
        else if (m->table)
            memcpy(m->gates, m->table + (size_t)token * G * H, sizeof(float) * (size_t)(G * H));
        else
            affine(m, m->input_weight[0], m->embedding + (size_t)token * m->embedding_dim, m->bias[0],
                   m->gates, G * H, m->embedding_dim, 0);
        cell_update(m, l);
    }
    affine(m, m->decoder_weight, m->h + (size_t)(m->layers - 1) * H, m->decoder_bias, m->logits,
           m->vocab, H, 0);
    return 0;
}

/* How to choose each next token: textrnn.sampling.SamplingOptions plus the forbidden-id
 * bias and the sample's record of generated tokens. Mirrored by textrnn.native.Choice. */
struct choice {
    const float *bias;  /* (vocab) added first, -inf forbids; or NULL */
    uint8_t *seen;      /* (vocab) tokens generated so far, for the repetition penalty; or NULL */
    float temperature, top_p, repetition_penalty;
    int32_t top_k, greedy; /* top_k 0: off */
};

struct ranked {
    float value;
    int32_t index;
};

static int by_value_descending(const void *a, const void *b) {
    const struct ranked *x = a, *y = b;
    if (x->value != y->value)
        return x->value > y->value ? -1 : 1;
    return x->index - y->index; /* ties in index order, so the sort is deterministic */
}

/* The next token from m->logits, as textrnn.sampling.choose_next chooses it: bias, the
 * repetition penalty, then the argmax when greedy; else temperature, top-k, top-p and
 * an inverse-CDF draw with the uniform number u in [0, 1). */
static int64_t choose(const struct recurrent_model *m, const struct choice *o, float u) {
    const int V = m->vocab;
    float *x = m->cdf, best = -INFINITY;
    int64_t argmax = 0;
    for (int v = 0; v < V; v++) {
        x[v] = o->bias ? m->logits[v] + o->bias[v] : m->logits[v];
        if (o->seen && o->repetition_penalty != 1.0f && o->seen[v]) /* CTRL's penalty */
            x[v] = x[v] > 0.0f ? x[v] / o->repetition_penalty : x[v] * o->repetition_penalty;
        if (!o->greedy && o->temperature != 1.0f)
            x[v] = x[v] / o->temperature;
        if (x[v] > best) { /* strict: the first of equal maxima, as torch.argmax */
            best = x[v];
            argmax = v;
        }
    }
    if (o->greedy)
        return argmax;
    if ((o->top_k > 0 && o->top_k < V) || o->top_p < 1.0f) {
        struct ranked *rank = m->ranked;
        for (int v = 0; v < V; v++) {
            rank[v].value = x[v];
            rank[v].index = v;
        }
        qsort(rank, (size_t)V, sizeof *rank, by_value_descending);
        int keep = V;
        if (o->top_k > 0 && o->top_k < V) { /* drop what is below the k-th largest; ties with it stay */
            float kth = rank[o->top_k - 1].value;
            while (keep > 0 && rank[keep - 1].value < kth)
                keep--;
        }
        if (o->top_p < 1.0f) { /* nucleus: drop a token once the likelier ones reach top_p */
            float total = 0.0f;
            for (int i = 0; i < keep; i++)
                total += exp_approx(rank[i].value - best);
            double mass = 0.0; /* running sum in double, as torch's CPU cumsum */
            for (int i = 0; i < keep; i++) {
                float p = exp_approx(rank[i].value - best) / total;
                mass += p;
                if ((float)mass - p >= o->top_p) {
                    keep = i;
                    break;
                }
            }
        }
        for (int i = keep; i < V; i++)
            x[rank[i].index] = -INFINITY;
    }
    float total = 0.0f;
    for (int v = 0; v < V; v++)
        x[v] = exp_approx(x[v] - best);
    for (int v = 0; v < V; v++)
        total += x[v];
    double running = 0.0;
    for (int v = 0; v < V; v++) { /* softmax, then its running sum: the CDF */
        running += x[v] / total;
        x[v] = (float)running;
    }
    /* scaled as textrnn.sampling._BELOW_ONE so that the target stays below the total */
    float target = x[V - 1] * (u * (1.0f - 1.0f / 1048576.0f));
    for (int v = 0; v < V; v++)
        if (x[v] > target)
            return v;
    return argmax;
}

/* count times: feed token, choose the next one into out[k], and feed that one next.
 * uniforms: count numbers in [0, 1), one per choice (unused when greedy). Returns -1 when
 * the first token is outside the vocabulary (the chosen ones never are), else 0. */
int32_t textrnn_sample(const struct recurrent_model *m, int64_t token, int32_t count, const float *uniforms,
                       const struct choice *o, int64_t *out) {
    for (int32_t k = 0; k < count; k++) {
        if (textrnn_step(m, token) != 0)
            return -1;
        token = choose(m, o, o->greedy ? 0.0f : uniforms[k]);
        if (o->seen)
            o->seen[token] = 1;
        out[k] = token;
    }
    return 0;
}
