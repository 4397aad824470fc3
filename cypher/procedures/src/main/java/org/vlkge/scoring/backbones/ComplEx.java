package org.vlkge.scoring.backbones;

import org.vlkge.scoring.Backbone;
import org.vlkge.scoring.BackboneOptions;
import org.vlkge.scoring.Direction;
import org.vlkge.scoring.Query;

/**
 * ComplEx ({@code vlkge_graph/models/complex.py}): {@code Re(<h, r, conj(t)>)}. No options. Entities and
 * relations are {@code dim} complex numbers stored {@code [real | imaginary]}, {@code 2 * dim} wide.
 */
public final class ComplEx extends Backbone {
    public ComplEx(BackboneOptions options) {
        super(options, 2, 2); // entities and relations: dim complex numbers
    }

    /**
     * Tail: {@code q = h * r}, {@code Re(q * conj(t)) = q_re . t_re + q_im . t_im}; head: {@code z = r * conj(t)},
     * {@code Re(h * z) = h_re . z_re - h_im . z_im}, so {@code q = [z_re | -z_im]}.
     */
    @Override
    protected Query kernel(double[] anchor, double[] r, Direction direction) {
        int dim = dim();
        boolean tail = direction == Direction.TAIL;
        double[] q = new double[2 * dim];
        for (int i = 0; i < dim; i++) {
            double ar = anchor[i], ai = anchor[dim + i], rr = r[i], ri = r[dim + i];
            if (tail) {
                q[i] = ar * rr - ai * ri;
                q[dim + i] = ar * ri + ai * rr;
            } else {
                q[i] = rr * ar + ri * ai;
                q[dim + i] = rr * ai - ri * ar;
            }
        }
        return Query.dot(q);
    }
}
