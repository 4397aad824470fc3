package org.vlkge.scoring.backbones;

import org.vlkge.scoring.Backbone;
import org.vlkge.scoring.BackboneOptions;
import org.vlkge.scoring.Direction;
import org.vlkge.scoring.Query;

/**
 * DistMult ({@code vlkge_graph/models/distmult.py}): {@code sum(h * r * t)}. No options. Entities and relations
 * are {@code dim} reals.
 */
public final class DistMult extends Backbone {
    public DistMult(BackboneOptions options) {
        super(options, 1, 1); // entities and relations: dim reals
    }

    /** {@code (anchor * r) . c}: the formula is symmetric in head and tail. */
    @Override
    protected Query kernel(double[] anchor, double[] r, Direction direction) {
        double[] q = new double[anchor.length];
        for (int i = 0; i < q.length; i++) {
            q[i] = anchor[i] * r[i];
        }
        return Query.dot(q);
    }
}
