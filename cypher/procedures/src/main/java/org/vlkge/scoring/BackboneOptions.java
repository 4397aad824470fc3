package org.vlkge.scoring;

import java.util.Arrays;
import java.util.Map;
import org.vlkge.VlkgeException;

/**
 * The scoring properties of a run node ({@code backbone}, {@code dim} and the backbone's own options, e.g.
 * TransE's {@code gamma}, {@code p}, {@code normalize}), read with errors that name the run and the property,
 * so each backbone reads exactly the keys it needs and a new backbone can read new ones.
 */
public final class BackboneOptions {
    private final String source;
    private final Map<String, ?> values;

    /**
     * @param source what the values belong to, for messages (e.g. {@code run 'r1'})
     * @param values the properties (a run node's, or a test case's)
     */
    public BackboneOptions(String source, Map<String, ?> values) {
        this.source = source;
        this.values = values;
    }

    /** What the values belong to (e.g. {@code run 'r1'}). */
    public String source() {
        return source;
    }

    /** The backbone key ({@code backbone}: transe, distmult, ...). */
    public String key() {
        if (!(values.get("backbone") instanceof String key)) {
            throw new VlkgeException(source + " has no string 'backbone' property");
        }
        return key;
    }

    /** The required number {@code name}. */
    public double number(String name) {
        if (!(values.get(name) instanceof Number n)) {
            throw error("has no numeric '" + name + "' property");
        }
        return n.doubleValue();
    }

    /** The required integer {@code name}; one of {@code allowed} when any are given. */
    public int integer(String name, int... allowed) {
        double v = number(name);
        if (v != Math.rint(v) || Math.abs(v) > Integer.MAX_VALUE) {
            throw error("has '" + name + "' = " + values.get(name) + "; expected an integer");
        }
        int i = (int) v;
        if (allowed.length > 0 && Arrays.stream(allowed).noneMatch(a -> a == i)) {
            throw error("has '" + name + "' = " + i + "; expected one of " + Arrays.toString(allowed));
        }
        return i;
    }

    /** The required boolean {@code name}. */
    public boolean bool(String name) {
        if (!(values.get(name) instanceof Boolean b)) {
            throw error("has no boolean '" + name + "' property");
        }
        return b;
    }

    /** An error about these values: {@code "run 'r1' (transe) " + what}. */
    public VlkgeException error(String what) {
        return new VlkgeException(source + " (" + values.get("backbone") + ") " + what);
    }
}
