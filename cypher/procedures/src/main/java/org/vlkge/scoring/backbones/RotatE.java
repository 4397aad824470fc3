package org.vlkge.scoring.backbones;

import org.vlkge.scoring.Backbone;
import org.vlkge.scoring.BackboneOptions;
import org.vlkge.scoring.Direction;
import org.vlkge.scoring.Query;

/**
 * RotatE ({@code vlkge_graph/models/rotate.py}): {@code gamma - d(h o e^{i theta}, t)}, {@code d} = the sum of
 * the complex moduli of the difference when {@code p = 1} (Sun et al.), the Euclidean norm of the whole
 * {@code [real | imaginary]} difference when {@code p = 2}. Options: {@code gamma}, {@code p} (1 or 2).
 * Entities are {@code dim} complex numbers stored {@code [real | imaginary]}; relations are {@code dim} phases.
 */
public final class RotatE extends Backbone {
    private final double gamma;
    private final int p;

    public RotatE(BackboneOptions options) {
        super(options, 2, 1); // entities: dim complex numbers; relations: dim phases
        this.gamma = options.number("gamma");
        this.p = options.integer("p", 1, 2);
    }

    /** Tail: {@code q = h o r}; head: {@code q = t o conj(r)}, since {@code |h o r - t| = |h - t o conj(r)|}. */
    @Override
    protected Query kernel(double[] anchor, double[] r, Direction direction) {
        int dim = dim();
        double[] q = new double[2 * dim];
        for (int i = 0; i < dim; i++) {
            double c = Math.cos(r[i]);
            double s = direction == Direction.TAIL ? Math.sin(r[i]) : -Math.sin(r[i]);
            double xr = anchor[i], xi = anchor[dim + i];
            q[i] = xr * c - xi * s;
            q[dim + i] = xr * s + xi * c;
        }
        return p == 1 ? Query.complexL1(q, gamma) : Query.l2(q, gamma, false);
    }
}
