package org.vlkge.scoring.backbones;

import org.vlkge.scoring.Backbone;
import org.vlkge.scoring.BackboneOptions;
import org.vlkge.scoring.Direction;
import org.vlkge.scoring.Query;

/**
 * TransE ({@code vlkge_graph/models/transe.py}): {@code gamma - || n(h) + n(r) - n(t) ||_p}, {@code n} = L2
 * normalisation when {@code normalize}, else identity. Options: {@code gamma}, {@code p} (1 or 2),
 * {@code normalize}. Entities and relations are {@code dim} reals.
 */
public final class TransE extends Backbone {
    private final double gamma;
    private final int p;
    private final boolean normalize;

    public TransE(BackboneOptions options) {
        super(options, 1, 1); // entities and relations: dim reals
        this.gamma = options.number("gamma");
        this.p = options.integer("p", 1, 2);
        this.normalize = options.bool("normalize");
    }

    /** Tail: {@code q = n(h) + n(r)}; head: {@code q = n(t) - n(r)}; then {@code gamma - || q - n(c) ||_p}. */
    @Override
    protected Query kernel(double[] anchor, double[] r, Direction direction) {
        double[] a = normalized(anchor);
        double[] nr = normalized(r);
        boolean tail = direction == Direction.TAIL;
        double[] q = new double[a.length];
        for (int i = 0; i < q.length; i++) {
            q[i] = tail ? a[i] + nr[i] : a[i] - nr[i];
        }
        return p == 1 ? Query.l1(q, gamma, normalize) : Query.l2(q, gamma, normalize);
    }

    /** {@code torch.nn.functional.normalize(x)} when {@code normalize} (a zero vector stays zero), else x. */
    private double[] normalized(double[] x) {
        if (!normalize) {
            return x;
        }
        double s = 0;
        for (double v : x) {
            s += v * v;
        }
        double scale = 1.0 / Math.max(Math.sqrt(s), Query.NORMALIZE_EPS);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * scale;
        }
        return out;
    }
}
