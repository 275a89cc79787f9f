/* The machine's practical ceiling for benchmarks/sweep_throughput.py: jaxgan's default sweep
 * workload (the minimax pointwise field, Euler) as a plain C loop, float32, OpenMP over the cores.
 *
 * The arithmetic is what jaxgan's field computes (jaxgan/fields/pointwise.py with the minimax
 * preset of jaxgan/games.py; f1' and f2' by autodiff):
 *
 *     dD/dt  = pd * (1/D) + pg * (-(1/(1 - D)))
 *     dpg/dt = f3(D) - f3(D0),  f3(D) = -log(1 - D)    (F3_LOG1P: -log1p(-D), the older preset)
 *     D  <- D  + lr * dD/dt
 *     pg <- pg + lr * dpg/dt
 *
 * `f3(D0)` is passed in, computed once in float32 by the caller as jaxgan computes it.
 *
 * Two loops:
 *   bare     the update alone, every start for `steps` steps;
 *   guarded  the update with jaxgan's domain guard after every step (D in (0, 1), pg >= 0, both
 *            finite): a start whose next state would leave the domain is frozen at its last
 *            state and marked LEFT_DOMAIN (finite) or DIVERGED (non-finite), with the step index.
 *            Fate codes are jaxgan's (jaxgan.fates.Fate): 0 UNDECIDED, 3 DIVERGED, 4 LEFT_DOMAIN.
 *            (jaxgan also checks CONVERGED / CYCLING / bound every `check_every` steps and stops
 *            early; this loop does not: it runs every start for all steps.)
 *
 * Starts are processed in blocks of BLOCK held in registers / L1: for each block, the time loop is
 * outside and a SIMD loop over the block's starts inside, so the compiler vectorises across starts
 * (with -ffast-math, gcc calls glibc's vector log / log1p, libmvec).
 *
 * The finiteness test reads the exponent bits: -ffast-math lets the compiler assume that no value is
 * NaN or infinite, so `isfinite` and comparisons with infinity would be folded away.
 *
 * Usage: sweep_loop MODE STEPS REPEATS PD LR F3D0 IN OUT
 *   MODE: bare | guarded; IN: n float32 D then n float32 pg (n = size / 8);
 *   OUT: n float32 D, n float32 pg, n int32 fate, n int32 exit step (-1: none).
 * Prints "first_seconds best_seconds threads cpu_seconds" (the loop only: no I/O, no process start;
 * cpu_seconds: the processor time of all threads in the fastest run, from clock()).
 *
 * Build: gcc -O3 -march=native -ffast-math -fopenmp sweep_loop.c -o sweep_loop -lm
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef BLOCK
#define BLOCK 256
#endif

#ifdef F3_LOG1P
#define F3(d) (-log1pf(-(d)))
#else
#define F3(d) (-logf(1.0f - (d)))
#endif

enum { UNDECIDED = 0, DIVERGED = 3, LEFT_DOMAIN = 4 };

static inline int finite_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x7f800000u) != 0x7f800000u;
}

static void bare(long n, int steps, float pd, float lr, float f3d0, float *restrict dd, float *restrict pp) {
#pragma omp parallel for schedule(static)
    for (long b = 0; b < n; b += BLOCK) {
        int m = (int)(n - b < BLOCK ? n - b : BLOCK);
        float d[BLOCK], p[BLOCK];
        memcpy(d, dd + b, m * sizeof(float));
        memcpy(p, pp + b, m * sizeof(float));
        for (int t = 0; t < steps; t++) {
#pragma omp simd
            for (int j = 0; j < m; j++) {
                float x = d[j], y = p[j];
                float vd = pd * (1.0f / x) + y * (-(1.0f / (1.0f - x)));
                float vp = F3(x) - f3d0;
                d[j] = x + lr * vd;
                p[j] = y + lr * vp;
            }
        }
        memcpy(dd + b, d, m * sizeof(float));
        memcpy(pp + b, p, m * sizeof(float));
    }
}

static void guarded(long n, int steps, float pd, float lr, float f3d0, float *restrict dd, float *restrict pp,
                    int32_t *restrict fate, int32_t *restrict when) {
#pragma omp parallel for schedule(static)
    for (long b = 0; b < n; b += BLOCK) {
        int m = (int)(n - b < BLOCK ? n - b : BLOCK);
        float d[BLOCK], p[BLOCK];
        int32_t st[BLOCK], ex[BLOCK];
        memcpy(d, dd + b, m * sizeof(float));
        memcpy(p, pp + b, m * sizeof(float));
        for (int j = 0; j < m; j++) {
            st[j] = UNDECIDED;
            ex[j] = -1;
        }
        for (int t = 0; t < steps; t++) {
#pragma omp simd
            for (int j = 0; j < m; j++) {
                float x = d[j], y = p[j];
                float vd = pd * (1.0f / x) + y * (-(1.0f / (1.0f - x)));
                float vp = F3(x) - f3d0;
                float xn = x + lr * vd, yn = y + lr * vp;
                int fin = finite_bits(xn) & finite_bits(yn);
                int inside = fin & (xn > 0.0f) & (xn < 1.0f) & (yn >= 0.0f);
                int running = st[j] == UNDECIDED;
                int accept = running & inside;
                int refuse = running & !inside;
                d[j] = accept ? xn : x;
                p[j] = accept ? yn : y;
                st[j] = refuse ? (fin ? LEFT_DOMAIN : DIVERGED) : st[j];
                ex[j] = refuse ? t : ex[j];
            }
        }
        memcpy(dd + b, d, m * sizeof(float));
        memcpy(pp + b, p, m * sizeof(float));
        memcpy(fate + b, st, m * sizeof(int32_t));
        memcpy(when + b, ex, m * sizeof(int32_t));
    }
}

static void *read_all(const char *path, long *size) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(*size);
    if (fread(buf, 1, *size, f) != (size_t)*size) { perror(path); exit(2); }
    fclose(f);
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: %s bare|guarded STEPS REPEATS PD LR F3D0 IN OUT\n", argv[0]);
        return 2;
    }
    int is_guarded = strcmp(argv[1], "guarded") == 0;
    int steps = atoi(argv[2]), repeats = atoi(argv[3]);
    float pd = strtof(argv[4], NULL), lr = strtof(argv[5], NULL), f3d0 = strtof(argv[6], NULL);
    long size;
    float *in = read_all(argv[7], &size);
    long n = size / (2 * (long)sizeof(float));
    float *d = malloc(n * sizeof(float)), *p = malloc(n * sizeof(float));
    int32_t *fate = malloc(n * sizeof(int32_t)), *when = malloc(n * sizeof(int32_t));
    double first = 0, best = 1e300, best_cpu = 0;
    for (int r = 0; r <= repeats; r++) {
        memcpy(d, in, n * sizeof(float));
        memcpy(p, in + n, n * sizeof(float));
        clock_t c0 = clock();
        double t0 = omp_get_wtime();
        if (is_guarded)
            guarded(n, steps, pd, lr, f3d0, d, p, fate, when);
        else
            bare(n, steps, pd, lr, f3d0, d, p);
        double dt = omp_get_wtime() - t0, cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
        if (r == 0) {
            first = dt;
            if (repeats == 0) { best = dt; best_cpu = cpu; }
        } else if (dt < best) {
            best = dt;
            best_cpu = cpu;
        }
    }
    if (!is_guarded)
        for (long i = 0; i < n; i++) { fate[i] = UNDECIDED; when[i] = -1; }
    FILE *f = fopen(argv[8], "wb");
    if (!f) { perror(argv[8]); return 2; }
    fwrite(d, sizeof(float), n, f);
    fwrite(p, sizeof(float), n, f);
    fwrite(fate, sizeof(int32_t), n, f);
    fwrite(when, sizeof(int32_t), n, f);
    fclose(f);
    printf("%.9g %.9g %d %.9g\n", first, best, omp_get_max_threads(), best_cpu);
    return 0;
}
