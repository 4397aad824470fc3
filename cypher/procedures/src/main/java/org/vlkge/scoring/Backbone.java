package org.vlkge.scoring;

import java.util.Arrays;
import java.util.Locale;
import org.vlkge.VlkgeException;

/** The four scoring functions of vlkge_graph/models, with the vector widths the graph stores for each. */
public enum Backbone {
    TRANSE(false),
    DISTMULT(false),
    COMPLEX(true),
    ROTATE(true);

    private final boolean complex;

    Backbone(boolean complex) {
        this.complex = complex;
    }

    /** Whether entity vectors are stored {@code [real | imaginary]}, {@code 2 * dim} wide. */
    public boolean isComplex() {
        return complex;
    }

    /** Width of a stored entity vector ({@code vlkge_embedding}). */
    public int entityWidth(int dim) {
        return complex ? 2 * dim : dim;
    }

    /** Width of a stored relation vector ({@code VlkgeRelation.vector}; RotatE: one phase per dimension). */
    public int relationWidth(int dim) {
        return this == ROTATE ? dim : entityWidth(dim);
    }

    /** The name the Python side writes ({@code VlkgeRun.backbone}). */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Backbone fromKey(String key) {
        for (Backbone b : values()) {
            if (b.key().equals(key)) {
                return b;
            }
        }
        throw new VlkgeException("unknown backbone '" + key + "'; expected one of "
                + Arrays.toString(Arrays.stream(values()).map(Backbone::key).toArray()));
    }
}
