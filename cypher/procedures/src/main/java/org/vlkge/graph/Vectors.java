package org.vlkge.graph;

import java.util.List;
import org.neo4j.graphdb.Entity;
import org.neo4j.graphdb.Node;
import org.vlkge.VlkgeException;

/** Reading numeric vectors from property values (stored as float[] or double[], or given as lists). */
public final class Vectors {
    private Vectors() {
    }

    /** The value as doubles, or null if it is not a numeric array or list. */
    public static double[] toDoubles(Object value) {
        if (value instanceof double[] d) {
            return d.clone();
        }
        if (value instanceof float[] f) {
            double[] out = new double[f.length];
            for (int i = 0; i < f.length; i++) {
                out[i] = f[i];
            }
            return out;
        }
        if (value instanceof long[] l) {
            double[] out = new double[l.length];
            for (int i = 0; i < l.length; i++) {
                out[i] = l[i];
            }
            return out;
        }
        if (value instanceof int[] n) {
            double[] out = new double[n.length];
            for (int i = 0; i < n.length; i++) {
                out[i] = n[i];
            }
            return out;
        }
        if (value instanceof List<?> list) {
            double[] out = new double[list.size()];
            for (int i = 0; i < out.length; i++) {
                if (!(list.get(i) instanceof Number number)) {
                    return null;
                }
                out[i] = number.doubleValue();
            }
            return out;
        }
        return null;
    }

    /**
     * Copies a stored vector into {@code dest[offset ..]} as floats if it has exactly {@code width} values;
     * returns false (copying nothing) for another width or a non-numeric value.
     */
    public static boolean copyAsFloats(Object value, int width, float[] dest, int offset) {
        if (value instanceof double[] d) {
            if (d.length != width) {
                return false;
            }
            for (int i = 0; i < width; i++) {
                dest[offset + i] = (float) d[i];
            }
            return true;
        }
        if (value instanceof float[] f) {
            if (f.length != width) {
                return false;
            }
            System.arraycopy(f, 0, dest, offset, width);
            return true;
        }
        double[] other = toDoubles(value);
        if (other == null || other.length != width) {
            return false;
        }
        for (int i = 0; i < width; i++) {
            dest[offset + i] = (float) other[i];
        }
        return true;
    }

    /** The node's embedding for {@code run} (its {@code embedding_property}); clear errors when it is unusable. */
    public static double[] embedding(Node node, Run run) {
        String property = run.embeddingProperty();
        Object value = node.getProperty(property, null);
        if (value == null) {
            throw missingEmbedding(node, run);
        }
        double[] v = toDoubles(value);
        if (v == null) {
            throw new VlkgeException(describe(node) + " has a " + property + " that is not a list of numbers");
        }
        if (v.length != run.entityWidth()) {
            throw new VlkgeException("dimension mismatch: " + describe(node) + " has a " + v.length + "-value "
                    + property + " (written by run '" + node.getProperty(Schema.EMBEDDING_RUN_ID, "?")
                    + "') but run '" + run.runId() + "' scores " + run.entityWidth() + "-value entity vectors");
        }
        return v;
    }

    /** The error for a node without the run's embedding property. */
    public static VlkgeException missingEmbedding(Node node, Run run) {
        return new VlkgeException(describe(node) + " has no " + run.embeddingProperty() + " property (the "
                + "embedding slot of run '" + run.runId() + "'): publish a run that covers it (vlkge-graph sync) "
                + "or give it an embedding");
    }

    /** "node 4:abc:12 (:Label)" for messages. */
    public static String describe(Entity entity) {
        if (entity instanceof Node node) {
            StringBuilder labels = new StringBuilder();
            node.getLabels().forEach(l -> labels.append(':').append(l.name()));
            return "node " + node.getElementId() + (labels.length() > 0 ? " (" + labels + ")" : "");
        }
        return "relationship " + entity.getElementId();
    }
}
