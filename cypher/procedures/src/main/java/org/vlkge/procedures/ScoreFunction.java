package org.vlkge.procedures;

import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Transaction;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.UserFunction;
import org.vlkge.VlkgeException;
import org.vlkge.graph.RelationParams;
import org.vlkge.graph.Run;
import org.vlkge.graph.RunLoader;
import org.vlkge.graph.Vectors;
import org.vlkge.scoring.Direction;

/** {@code vlkge.score(head, relation, tail [, runId])} and {@code vlkge.probability(head, relation, tail [, runId
 * [, direction]])}. */
public class ScoreFunction {
    @Context
    public Transaction tx;

    @UserFunction(name = "vlkge.score")
    @Description("vlkge.score(head, relation, tail [, runId]) - the backbone score of (head, relation, tail), "
            + "always scored forward with the relation's vector, under runId or else the active run whose "
            + "entity_labels cover the nodes; higher = more plausible")
    public Double score(@Name("head") Node head, @Name("relation") String relation, @Name("tail") Node tail,
                        @Name(value = "runId", defaultValue = "") String runId) {
        if (head == null || tail == null) {
            throw new VlkgeException("vlkge.score: head and tail must be nodes, got null");
        }
        Run run = RunLoader.forNodes(tx, runId, head, tail);
        RelationParams params = run.relation(relation);
        double[] h = Vectors.embedding(head, run);
        double[] t = Vectors.embedding(tail, run);
        return run.backbone().score(h, params.vector(), t);
    }

    @UserFunction(name = "vlkge.probability")
    @Description("vlkge.probability(head, relation, tail [, runId [, direction: 'tail'|'head']]) - the calibrated "
            + "probability that (head, relation, tail) is a true fact, from the score of its direction's query "
            + "(tail: (head, relation, ?), the default; head: (?, relation, tail)): what vlkge.predict and the "
            + "published candidates report for the pair; sigmoid(score) for a run without calibration")
    public Double probability(@Name("head") Node head, @Name("relation") String relation, @Name("tail") Node tail,
                              @Name(value = "runId", defaultValue = "") String runId,
                              @Name(value = "direction", defaultValue = "tail") String direction) {
        if (head == null || tail == null) {
            throw new VlkgeException("vlkge.probability: head and tail must be nodes, got null");
        }
        Direction d = Direction.fromKey(direction);
        Run run = RunLoader.forNodes(tx, runId, head, tail);
        RelationParams params = run.relation(relation);
        double score = run.score(Vectors.embedding(head, run), params, Vectors.embedding(tail, run), d);
        return params.probability(score, d);
    }
}
