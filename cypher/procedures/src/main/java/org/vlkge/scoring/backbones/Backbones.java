package org.vlkge.scoring.backbones;

import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import org.vlkge.VlkgeException;
import org.vlkge.scoring.Backbone;
import org.vlkge.scoring.BackboneOptions;

/**
 * The backbones the plugin scores, by the key the Python side writes ({@code VlkgeRun.backbone}; Python's
 * {@code BACKBONES}): the one place a new backbone is registered. The shared test vectors check that every
 * backbone Python writes has an entry here ({@code ScoreVectorsTest}).
 */
public final class Backbones {
    private static final Map<String, Function<BackboneOptions, Backbone>> TABLE = Map.of(
            "transe", TransE::new,
            "distmult", DistMult::new,
            "complex", ComplEx::new,
            "rotate", RotatE::new);

    private Backbones() {
    }

    /** The registered keys, sorted. */
    public static Set<String> keys() {
        return new TreeSet<>(TABLE.keySet());
    }

    /** The backbone {@code options} name ({@code backbone}), built from its {@code dim} and options. */
    public static Backbone create(BackboneOptions options) {
        String key = options.key();
        Function<BackboneOptions, Backbone> factory = TABLE.get(key);
        if (factory == null) {
            throw new VlkgeException(options.source() + " has unknown backbone '" + key + "'; expected one of "
                    + keys());
        }
        return factory.apply(options);
    }
}
