package org.vlkge.scoring;

import org.vlkge.VlkgeException;

/**
 * A run's backbone: one scoring function of {@code vlkge_graph/models/*.py} with the run's {@code dim} and
 * options (higher = more plausible). Vectors are in the graph's stored form (docs/graph-model.md): entities
 * {@link #entityWidth} wide, relations {@link #relationWidth} wide (the backbone's parameter).
 *
 * <p>A backbone writes its formula once, as the batched kernel {@link #kernel} (Python: {@code score_tails} /
 * {@code score_heads}: the query-side work done once, then one tight loop per candidate, see {@link Query});
 * the triple score {@link #score} is that kernel's tail query scored against one candidate. One class per
 * backbone in {@code org.vlkge.scoring.backbones}, registered by key in {@code Backbones}.
 */
public abstract class Backbone {
    private final String key;
    private final int dim;
    private final int entityWidth;
    private final int relationWidth;

    /**
     * Reads {@code backbone} and a positive {@code dim}; the subclass reads its own options.
     *
     * @param entityPerDim stored entity values per dimension: 1 (reals) or 2 ({@code [real | imaginary]})
     * @param relationPerDim stored relation values per dimension
     */
    protected Backbone(BackboneOptions options, int entityPerDim, int relationPerDim) {
        this.key = options.key();
        this.dim = options.integer("dim");
        if (dim <= 0) {
            throw options.error("has 'dim' = " + dim + "; the backbone dimension must be positive");
        }
        this.entityWidth = entityPerDim * dim;
        this.relationWidth = relationPerDim * dim;
    }

    /** The name the Python side writes ({@code VlkgeRun.backbone}). */
    public final String key() {
        return key;
    }

    public final int dim() {
        return dim;
    }

    /** Width of a stored entity vector ({@code vlkge_embedding*}). */
    public final int entityWidth() {
        return entityWidth;
    }

    /** Width of a stored relation vector ({@code VlkgeRelation.vector} / {@code inverse_vector}). */
    public final int relationWidth() {
        return relationWidth;
    }

    /**
     * The query {@code (anchor, r, ?)} ({@link Direction#TAIL}) or {@code (?, r, anchor)} ({@link Direction#HEAD})
     * against candidate vectors, widths checked.
     */
    public final Query query(double[] anchor, double[] r, Direction direction) {
        checkEntity(anchor, direction == Direction.TAIL ? "head" : "tail");
        checkRelation(r);
        return kernel(anchor, r, direction);
    }

    /**
     * Score of one triple (Python: {@code Backbone.score}): the tail query of {@code (h, r)} scored exactly
     * (double arithmetic) against {@code t} held as the ranking pass holds candidates (float32; published vectors
     * are float32 values), so it equals the score {@code vlkge.predict} reports for the same triple.
     */
    public final double score(double[] h, double[] r, double[] t) {
        checkEntity(h, "head");
        checkEntity(t, "tail");
        return score(query(h, r, Direction.TAIL), t);
    }

    /** {@code query} scored exactly against one candidate held as the ranking pass holds it (float32). */
    public final double score(Query query, double[] candidate) {
        checkEntity(candidate, "candidate");
        float[] values = new float[candidate.length];
        for (int i = 0; i < candidate.length; i++) {
            values[i] = (float) candidate[i];
        }
        return new EmbeddingBlock(new long[1], values, candidate.length, 1, 0).score(query, 0);
    }

    /** The formula: the batched kernel of a query whose vectors have the right widths. */
    protected abstract Query kernel(double[] anchor, double[] r, Direction direction);

    private void checkEntity(double[] v, String what) {
        if (v.length != entityWidth()) {
            throw mismatch("the " + what + " vector", v.length, entityWidth());
        }
    }

    private void checkRelation(double[] r) {
        if (r.length != relationWidth()) {
            throw mismatch("the relation vector", r.length, relationWidth());
        }
    }

    private VlkgeException mismatch(String what, int got, int expected) {
        return new VlkgeException("dimension mismatch: " + what + " has " + got + " values but the run's " + key
                + " backbone (dim " + dim + ") expects " + expected);
    }
}
