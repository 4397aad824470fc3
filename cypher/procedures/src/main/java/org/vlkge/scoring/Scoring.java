package org.vlkge.scoring;

import org.vlkge.VlkgeException;

/**
 * The score of a triple under one run's backbone, exactly as {@code vlkge_graph/models/*.py} computes it
 * (higher = more plausible). Vectors are in the graph's stored form (docs/graph-model.md): entities
 * {@code dim} wide, or {@code [real | imaginary]} {@code 2 * dim} wide for ComplEx/RotatE; relations are the
 * backbone's parameter (RotatE: {@code dim} phases). Arithmetic is double precision.
 *
 * <p>{@link #score} mirrors the Python {@code score}; {@link #query} mirrors {@code score_tails} /
 * {@code score_heads} (the query-side work done once, then one tight loop per candidate).
 */
public final class Scoring {
    /** {@code torch.nn.functional.normalize}'s eps: a vector shorter than this is divided by eps. */
    public static final double NORMALIZE_EPS = 1e-12;

    private final Backbone backbone;
    private final int dim;
    private final double gamma;
    private final int p;
    private final boolean normalize;

    /**
     * @param gamma margin (TransE, RotatE); ignored by DistMult/ComplEx
     * @param p norm order 1 or 2 (TransE, RotatE)
     * @param normalize TransE's L2 normalisation of h, r and t
     */
    public Scoring(Backbone backbone, int dim, double gamma, int p, boolean normalize) {
        if (dim <= 0) {
            throw new VlkgeException("backbone dimension must be positive, got " + dim);
        }
        if ((backbone == Backbone.TRANSE || backbone == Backbone.ROTATE) && p != 1 && p != 2) {
            throw new VlkgeException(backbone.key() + " norm p must be 1 or 2, got " + p);
        }
        this.backbone = backbone;
        this.dim = dim;
        this.gamma = gamma;
        this.p = p;
        this.normalize = normalize && backbone == Backbone.TRANSE;
    }

    public Backbone backbone() {
        return backbone;
    }

    public int dim() {
        return dim;
    }

    public int entityWidth() {
        return backbone.entityWidth(dim);
    }

    public int relationWidth() {
        return backbone.relationWidth(dim);
    }

    /** Whether candidates must be L2-normalised before scoring (see {@link EmbeddingBlock#inverseNorms}). */
    public boolean normalizesCandidates() {
        return normalize;
    }

    /** Score of one triple (Python: {@code Backbone.score}). */
    public double score(double[] h, double[] r, double[] t) {
        checkEntity(h, "head");
        checkEntity(t, "tail");
        checkRelation(r);
        switch (backbone) {
            case TRANSE: {
                double[] nh = norm(h);
                double[] nr = norm(r);
                double[] nt = norm(t);
                double[] diff = new double[dim];
                for (int i = 0; i < dim; i++) {
                    diff[i] = nh[i] + nr[i] - nt[i];
                }
                return gamma - pNorm(diff);
            }
            case DISTMULT: {
                double s = 0;
                for (int i = 0; i < dim; i++) {
                    s += h[i] * r[i] * t[i];
                }
                return s;
            }
            case COMPLEX: {
                double s = 0;
                for (int i = 0; i < dim; i++) {
                    double hr = h[i], hi = h[dim + i], rr = r[i], ri = r[dim + i], tr = t[i], ti = t[dim + i];
                    s += hr * rr * tr + hi * rr * ti + hr * ri * ti - hi * ri * tr;
                }
                return s;
            }
            case ROTATE: {
                double[] x = rotate(h, r, false);
                double d;
                if (p == 2) {
                    double s = 0;
                    for (int i = 0; i < 2 * dim; i++) {
                        double e = x[i] - t[i];
                        s += e * e;
                    }
                    d = Math.sqrt(s);
                } else {
                    d = 0;
                    for (int i = 0; i < dim; i++) {
                        double er = x[i] - t[i];
                        double ei = x[dim + i] - t[dim + i];
                        d += Math.sqrt(er * er + ei * ei);
                    }
                }
                return gamma - d;
            }
            default:
                throw new IllegalStateException(backbone.toString());
        }
    }

    /**
     * The query {@code (anchor, r, ?)} ({@link Direction#TAIL}) or {@code (?, r, anchor)} ({@link Direction#HEAD})
     * against candidate vectors (Python: {@code score_tails} / {@code score_heads}).
     */
    public Query query(double[] anchor, double[] r, Direction direction) {
        checkEntity(anchor, direction == Direction.TAIL ? "head" : "tail");
        checkRelation(r);
        boolean tail = direction == Direction.TAIL;
        switch (backbone) {
            case TRANSE: {
                double[] na = norm(anchor);
                double[] nr = norm(r);
                double[] q = new double[dim];
                for (int i = 0; i < dim; i++) {
                    q[i] = tail ? na[i] + nr[i] : na[i] - nr[i];
                }
                return p == 1 ? new Query.L1(q, gamma, normalize) : new Query.L2(q, gamma, normalize);
            }
            case DISTMULT: {
                double[] q = new double[dim];
                for (int i = 0; i < dim; i++) {
                    q[i] = anchor[i] * r[i];
                }
                return new Query.Dot(q);
            }
            case COMPLEX: {
                double[] q = new double[2 * dim];
                for (int i = 0; i < dim; i++) {
                    double ar = anchor[i], ai = anchor[dim + i], rr = r[i], ri = r[dim + i];
                    if (tail) { // q = h * r; Re(q * conj(t)) = q_re . t_re + q_im . t_im
                        q[i] = ar * rr - ai * ri;
                        q[dim + i] = ar * ri + ai * rr;
                    } else { // z = r * conj(t); Re(h * z) = h_re . z_re - h_im . z_im
                        q[i] = rr * ar + ri * ai;
                        q[dim + i] = rr * ai - ri * ar;
                    }
                }
                return new Query.Dot(q);
            }
            case ROTATE: {
                // |h o r - t| = |h - t o conj(r)| because every rotation has modulus one.
                double[] q = rotate(anchor, r, !tail);
                return p == 1 ? new Query.ComplexL1(q, gamma) : new Query.L2(q, gamma, false);
            }
            default:
                throw new IllegalStateException(backbone.toString());
        }
    }

    /** {@code x o e^{i theta}} (or its conjugate rotation) for {@code [real | imaginary]} x and phases theta. */
    private double[] rotate(double[] x, double[] phases, boolean conjugate) {
        double[] out = new double[2 * dim];
        for (int i = 0; i < dim; i++) {
            double c = Math.cos(phases[i]);
            double s = conjugate ? -Math.sin(phases[i]) : Math.sin(phases[i]);
            double xr = x[i], xi = x[dim + i];
            out[i] = xr * c - xi * s;
            out[dim + i] = xr * s + xi * c;
        }
        return out;
    }

    private double[] norm(double[] x) {
        if (!normalize) {
            return x;
        }
        double scale = 1.0 / Math.max(Math.sqrt(squaredNorm(x)), NORMALIZE_EPS);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * scale;
        }
        return out;
    }

    private double pNorm(double[] x) {
        if (p == 2) {
            return Math.sqrt(squaredNorm(x));
        }
        double s = 0;
        for (double v : x) {
            s += Math.abs(v);
        }
        return s;
    }

    static double squaredNorm(double[] x) {
        double s = 0;
        for (double v : x) {
            s += v * v;
        }
        return s;
    }

    private void checkEntity(double[] v, String what) {
        if (v.length != entityWidth()) {
            throw new VlkgeException("dimension mismatch: the " + what + " vector has " + v.length
                    + " values but the run's " + backbone.key() + " backbone (dim " + dim + ") expects "
                    + entityWidth());
        }
    }

    private void checkRelation(double[] r) {
        if (r.length != relationWidth()) {
            throw new VlkgeException("dimension mismatch: the relation vector has " + r.length
                    + " values but the run's " + backbone.key() + " backbone (dim " + dim + ") expects "
                    + relationWidth());
        }
    }
}
