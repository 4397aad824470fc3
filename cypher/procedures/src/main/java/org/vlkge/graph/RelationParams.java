package org.vlkge.graph;

import org.neo4j.graphdb.Node;
import org.vlkge.VlkgeException;
import org.vlkge.scoring.Direction;

/**
 * One relation of a run ({@code (:VlkgeRelation)}): the dataset relation name, the Neo4j relationship type of
 * its facts, and the backbone's relation vectors as stored, read from the node on first use (a run may have
 * hundreds of relations; a call needs one): {@code vector} (forward) and, for a reciprocal run,
 * {@code inverse_vector} (the relation's inverse, which head queries use); and {@code calibration}
 * {@code [tail_a, tail_b, head_a, head_b]}: a pair's probability is {@code sigmoid(a * score + b)} of its
 * direction's query score (Platt scaling fitted on the validation split, Python
 * {@code vlkge_graph/evaluation/calibration.py}); a relation without one (an uncalibrated or older run) gives
 * {@code sigmoid(score)}.
 */
public final class RelationParams {
    private final String relation;
    private final String type;
    private final Node node;
    private double[] vector;
    private double[] inverseVector;
    private double[] calibration;
    private boolean read;
    private boolean inverseRead;
    private boolean calibrationRead;

    public RelationParams(String relation, String type, Node node) {
        this.relation = relation;
        this.type = type;
        this.node = node;
    }

    public String relation() {
        return relation;
    }

    public String type() {
        return type;
    }

    /** Whether this relation is called {@code nameOrType}: its dataset name or its relationship type. */
    public boolean isCalled(String nameOrType) {
        return relation.equals(nameOrType) || type.equals(nameOrType);
    }

    /** The stored vector, or null if the node has none (or it is not numeric). */
    public double[] vector() {
        if (!read) {
            vector = Vectors.toDoubles(node.getProperty("vector", null));
            read = true;
        }
        return vector;
    }

    /** The stored {@code inverse_vector}, or null if the node has none (or it is not numeric). */
    public double[] inverseVector() {
        if (!inverseRead) {
            inverseVector = Vectors.toDoubles(node.getProperty("inverse_vector", null));
            inverseRead = true;
        }
        return inverseVector;
    }

    /**
     * The probability that a pair whose {@code direction} query scores {@code score} is a true fact: calibrated
     * when the relation node has a {@code calibration}, else {@code sigmoid(score)}.
     */
    public double probability(double score, Direction direction) {
        if (!calibrationRead) {
            calibration = Vectors.toDoubles(node.getProperty("calibration", null));
            calibrationRead = true;
            if (calibration != null && calibration.length != 4) {
                throw new VlkgeException("relation '" + relation + "' has a calibration of " + calibration.length
                        + " values; expected [tail_a, tail_b, head_a, head_b] (republish the run)");
            }
        }
        if (calibration == null) {
            return platt(1.0, 0.0, score);
        }
        int at = direction == Direction.TAIL ? 0 : 2;
        return platt(calibration[at], calibration[at + 1], score);
    }

    /** {@code sigmoid(a * score + b)}, as Python's {@code evaluation.calibration.platt} computes it. */
    public static double platt(double a, double b, double score) {
        return 1.0 / (1.0 + Math.exp(-(a * score + b)));
    }
}
