package org.vlkge.scoring;

/**
 * One query's scores against a block of candidate vectors: the query-side work is done once
 * ({@link Backbone#query}), then each candidate costs one tight loop over its {@code width} floats.
 *
 * <p>Two paths: {@link #score} is exact (double arithmetic, what results report); {@link #scoreAllFast} is
 * the ranking pass, float arithmetic over four candidates at a time (one load of the query per four rows,
 * four independent accumulators), within about 1e-6 relative of the exact score. Callers rank with the fast
 * pass, then rescore the best rows exactly (see {@code Predictor}).
 *
 * <p>The kernels here are the shared building blocks of the backbones ({@link #dot}, {@link #l1}, {@link #l2},
 * {@link #complexL1}) and of similarity ({@link #cosine}); a backbone that needs another shape subclasses Query
 * ({@link #score} and {@link #four}).
 */
public abstract class Query {
    /** {@code torch.nn.functional.normalize}'s eps: a vector shorter than this is divided by eps. */
    public static final double NORMALIZE_EPS = 1e-12;

    protected final double[] q;
    protected final float[] qf;

    protected Query(double[] q) {
        this.q = q;
        this.qf = new float[q.length];
        for (int i = 0; i < q.length; i++) {
            qf[i] = (float) q[i];
        }
    }

    /** Cosine similarity to {@code v} (0 for a zero vector). */
    public static Query cosine(double[] v) {
        double n = 0;
        for (double x : v) {
            n += x * x;
        }
        double scale = n == 0 ? 0 : 1 / Math.sqrt(n);
        double[] unit = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            unit[i] = v[i] * scale;
        }
        return new Cosine(unit);
    }

    /** {@code q . c} (DistMult, ComplEx). */
    public static Query dot(double[] q) {
        return new Dot(q);
    }

    /** {@code gamma - sum |q - n(c)|}, {@code n} = L2 normalisation when {@code normalize} (TransE p = 1). */
    public static Query l1(double[] q, double gamma, boolean normalize) {
        return new L1(q, gamma, normalize);
    }

    /** {@code gamma - || q - n(c) ||_2} over the whole stored vector (TransE p = 2, RotatE p = 2). */
    public static Query l2(double[] q, double gamma, boolean normalize) {
        return new L2(q, gamma, normalize);
    }

    /** {@code gamma - sum_i |q_i - c_i|} over the complex coordinates of {@code [real | imaginary]} (RotatE p = 1). */
    public static Query complexL1(double[] q, double gamma) {
        return new ComplexL1(q, gamma);
    }

    /** The query vector's width (= the candidates' width). */
    public int width() {
        return q.length;
    }

    /** Whether the candidates' inverse L2 norms are needed (TransE with normalisation, cosine). */
    public boolean needsInverseNorms() {
        return false;
    }

    /**
     * Exact score of the candidate stored at {@code block[offset .. offset + width)}; {@code inverseNorm} is
     * {@code 1 / max(||c||, eps)} when {@link #needsInverseNorms}, else ignored.
     */
    public abstract double score(float[] block, int offset, double inverseNorm);

    /**
     * Float32 scores of candidates {@code 0 .. count - 1} of {@code block} (row-major, {@code width} floats
     * each) into {@code out}; {@code inverseNorms} per row, or null when not needed.
     */
    public void scoreAllFast(float[] block, int count, double[] inverseNorms, float[] out) {
        int w = q.length;
        int row = 0;
        for (; row + 3 < count; row += 4) {
            float i0 = 1f, i1 = 1f, i2 = 1f, i3 = 1f;
            if (inverseNorms != null) {
                i0 = (float) inverseNorms[row];
                i1 = (float) inverseNorms[row + 1];
                i2 = (float) inverseNorms[row + 2];
                i3 = (float) inverseNorms[row + 3];
            }
            four(block, row * w, w, i0, i1, i2, i3, out, row);
        }
        for (; row < count; row++) {
            out[row] = (float) score(block, row * w, inverseNorms == null ? 1.0 : inverseNorms[row]);
        }
    }

    /** Float scores of the four rows starting at {@code off} into {@code out[row .. row + 3]}. */
    protected abstract void four(float[] c, int off, int w, float i0, float i1, float i2, float i3, float[] out,
                                 int row);

    /** DistMult and ComplEx: {@code q . c}. */
    static class Dot extends Query {
        Dot(double[] q) {
            super(q);
        }

        @Override
        public double score(float[] c, int off, double inverseNorm) {
            double[] q = this.q;
            int w = q.length;
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            int i = 0;
            for (; i + 3 < w; i += 4) {
                s0 += q[i] * c[off + i];
                s1 += q[i + 1] * c[off + i + 1];
                s2 += q[i + 2] * c[off + i + 2];
                s3 += q[i + 3] * c[off + i + 3];
            }
            for (; i < w; i++) {
                s0 += q[i] * c[off + i];
            }
            return (s0 + s1) + (s2 + s3);
        }

        @Override
        protected void four(float[] c, int off, int w, float i0, float i1, float i2, float i3, float[] out, int row) {
            float[] q = qf;
            int o1 = off + w, o2 = o1 + w, o3 = o2 + w;
            float a = 0, b = 0, d = 0, e = 0;
            for (int i = 0; i < w; i++) {
                float x = q[i];
                a += x * c[off + i];
                b += x * c[o1 + i];
                d += x * c[o2 + i];
                e += x * c[o3 + i];
            }
            out[row] = a;
            out[row + 1] = b;
            out[row + 2] = d;
            out[row + 3] = e;
        }
    }

    /** Cosine similarity: {@code q . c / ||c||} with {@code q} already unit length. */
    static final class Cosine extends Dot {
        Cosine(double[] unitQ) {
            super(unitQ);
        }

        @Override
        public boolean needsInverseNorms() {
            return true;
        }

        @Override
        public double score(float[] c, int off, double inverseNorm) {
            return super.score(c, off, inverseNorm) * inverseNorm;
        }

        @Override
        protected void four(float[] c, int off, int w, float i0, float i1, float i2, float i3, float[] out, int row) {
            super.four(c, off, w, i0, i1, i2, i3, out, row);
            out[row] *= i0;
            out[row + 1] *= i1;
            out[row + 2] *= i2;
            out[row + 3] *= i3;
        }
    }

    /** TransE p = 1: {@code gamma - sum |q - n(c)|}. */
    static final class L1 extends Query {
        private final double gamma;
        private final boolean normalize;

        L1(double[] q, double gamma, boolean normalize) {
            super(q);
            this.gamma = gamma;
            this.normalize = normalize;
        }

        @Override
        public boolean needsInverseNorms() {
            return normalize;
        }

        @Override
        public double score(float[] c, int off, double inv) {
            double[] q = this.q;
            int w = q.length;
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            int i = 0;
            for (; i + 3 < w; i += 4) {
                s0 += Math.abs(q[i] - c[off + i] * inv);
                s1 += Math.abs(q[i + 1] - c[off + i + 1] * inv);
                s2 += Math.abs(q[i + 2] - c[off + i + 2] * inv);
                s3 += Math.abs(q[i + 3] - c[off + i + 3] * inv);
            }
            for (; i < w; i++) {
                s0 += Math.abs(q[i] - c[off + i] * inv);
            }
            return gamma - ((s0 + s1) + (s2 + s3));
        }

        @Override
        protected void four(float[] c, int off, int w, float i0, float i1, float i2, float i3, float[] out, int row) {
            float[] q = qf;
            int o1 = off + w, o2 = o1 + w, o3 = o2 + w;
            float a = 0, b = 0, d = 0, e = 0;
            for (int i = 0; i < w; i++) {
                float x = q[i];
                a += Math.abs(x - c[off + i] * i0);
                b += Math.abs(x - c[o1 + i] * i1);
                d += Math.abs(x - c[o2 + i] * i2);
                e += Math.abs(x - c[o3 + i] * i3);
            }
            float g = (float) gamma;
            out[row] = g - a;
            out[row + 1] = g - b;
            out[row + 2] = g - d;
            out[row + 3] = g - e;
        }
    }

    /** TransE p = 2 and RotatE p = 2: {@code gamma - || q - n(c) ||_2} over the whole stored vector. */
    static final class L2 extends Query {
        private final double gamma;
        private final boolean normalize;

        L2(double[] q, double gamma, boolean normalize) {
            super(q);
            this.gamma = gamma;
            this.normalize = normalize;
        }

        @Override
        public boolean needsInverseNorms() {
            return normalize;
        }

        @Override
        public double score(float[] c, int off, double inv) {
            double[] q = this.q;
            int w = q.length;
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            int i = 0;
            for (; i + 3 < w; i += 4) {
                double e0 = q[i] - c[off + i] * inv;
                double e1 = q[i + 1] - c[off + i + 1] * inv;
                double e2 = q[i + 2] - c[off + i + 2] * inv;
                double e3 = q[i + 3] - c[off + i + 3] * inv;
                s0 += e0 * e0;
                s1 += e1 * e1;
                s2 += e2 * e2;
                s3 += e3 * e3;
            }
            for (; i < w; i++) {
                double e = q[i] - c[off + i] * inv;
                s0 += e * e;
            }
            return gamma - Math.sqrt((s0 + s1) + (s2 + s3));
        }

        @Override
        protected void four(float[] c, int off, int w, float i0, float i1, float i2, float i3, float[] out, int row) {
            float[] q = qf;
            int o1 = off + w, o2 = o1 + w, o3 = o2 + w;
            float a = 0, b = 0, d = 0, e = 0;
            for (int i = 0; i < w; i++) {
                float x = q[i];
                float ea = x - c[off + i] * i0;
                float eb = x - c[o1 + i] * i1;
                float ed = x - c[o2 + i] * i2;
                float ee = x - c[o3 + i] * i3;
                a += ea * ea;
                b += eb * eb;
                d += ed * ed;
                e += ee * ee;
            }
            out[row] = (float) (gamma - Math.sqrt(a));
            out[row + 1] = (float) (gamma - Math.sqrt(b));
            out[row + 2] = (float) (gamma - Math.sqrt(d));
            out[row + 3] = (float) (gamma - Math.sqrt(e));
        }
    }

    /** RotatE p = 1: {@code gamma - sum_i |q_i - c_i|} over complex coordinates (Sun et al.). */
    static final class ComplexL1 extends Query {
        private final double gamma;
        private final int dim;

        ComplexL1(double[] q, double gamma) {
            super(q);
            this.gamma = gamma;
            this.dim = q.length / 2;
        }

        @Override
        public double score(float[] c, int off, double inverseNorm) {
            double[] q = this.q;
            int d = dim;
            double s = 0;
            for (int i = 0; i < d; i++) {
                double er = q[i] - c[off + i];
                double ei = q[d + i] - c[off + d + i];
                s += Math.sqrt(er * er + ei * ei);
            }
            return gamma - s;
        }

        @Override
        protected void four(float[] c, int off, int w, float i0, float i1, float i2, float i3, float[] out, int row) {
            float[] q = qf;
            int n = dim;
            int o1 = off + w, o2 = o1 + w, o3 = o2 + w;
            float a = 0, b = 0, d = 0, e = 0;
            for (int i = 0; i < n; i++) {
                float xr = q[i], xi = q[n + i];
                float ar = xr - c[off + i], ai = xi - c[off + n + i];
                float br = xr - c[o1 + i], bi = xi - c[o1 + n + i];
                float dr = xr - c[o2 + i], di = xi - c[o2 + n + i];
                float er = xr - c[o3 + i], ei = xi - c[o3 + n + i];
                a += (float) Math.sqrt(ar * ar + ai * ai);
                b += (float) Math.sqrt(br * br + bi * bi);
                d += (float) Math.sqrt(dr * dr + di * di);
                e += (float) Math.sqrt(er * er + ei * ei);
            }
            float g = (float) gamma;
            out[row] = g - a;
            out[row + 1] = g - b;
            out[row + 2] = g - d;
            out[row + 3] = g - e;
        }
    }
}
