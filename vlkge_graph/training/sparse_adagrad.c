/* Dense Adagrad's arithmetic on the rows a sparse gradient touched, in one pass (see native.py).
 *
 * The gradient comes uncoalesced: `values` holds one row per lookup. `order` lists those rows sorted by
 * table row; rows order[offsets[u]] .. order[offsets[u + 1] - 1] all belong to table row `rows[u]`, and
 * are summed first (the coalesced gradient), then, per element, exactly as torch.optim.Adagrad does:
 *     sum += g * g;   param += -clr * (g / (sqrt(sum) + eps))
 * Compiled without -ffast-math and with -ffp-contract=off, so the arithmetic is IEEE and unfused
 * (-fno-math-errno only lets sqrt vectorise: it never sets errno on these non-negative sums). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define DEFINE_STEP(NAME, T, SQRT)                                                                  \
    void NAME(T *restrict param, T *restrict sum, const T *restrict values, const int64_t *rows,     \
              const int64_t *order, const int64_t *offsets, int64_t n_rows, int64_t dim, T clr,      \
              T eps, int maximize, T *restrict grad) {                                              \
        const T sign = maximize ? -1 : 1;                                                           \
        for (int64_t u = 0; u < n_rows; ++u) {                                                      \
            memcpy(grad, values + order[offsets[u]] * dim, sizeof(T) * dim);                        \
            for (int64_t k = offsets[u] + 1; k < offsets[u + 1]; ++k) {                            \
                const T *v = values + order[k] * dim;                                               \
                for (int64_t d = 0; d < dim; ++d) grad[d] += v[d];                                  \
            }                                                                                       \
            T *p = param + rows[u] * dim, *s = sum + rows[u] * dim;                                 \
            for (int64_t d = 0; d < dim; ++d) {                                                     \
                T g = sign * grad[d];                                                               \
                s[d] = s[d] + g * g;                                                                \
                p[d] = p[d] + (-clr) * (g / (SQRT(s[d]) + eps));                                    \
            }                                                                                       \
        }                                                                                           \
    }

DEFINE_STEP(sparse_adagrad_f32, float, sqrtf)
DEFINE_STEP(sparse_adagrad_f64, double, sqrt)
