package org.vlkge.procedures;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Relationship;
import org.neo4j.graphdb.Transaction;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;
import org.vlkge.VlkgeException;
import org.vlkge.graph.Candidates;
import org.vlkge.graph.Curation;
import org.vlkge.graph.Run;
import org.vlkge.graph.RunLoader;
import org.vlkge.scoring.Direction;

/** {@code vlkge.candidates}, {@code vlkge.accept} and {@code vlkge.reject}: published candidates and curation. */
public class CandidateProcedures {
    static final Set<String> KEYS = Set.of("relation", "minScore", "direction", "runId", "limit");

    @Context
    public Transaction tx;

    /** One row of {@code vlkge.candidates}. */
    public static class CandidateRow {
        public Relationship candidate;
        public Node other;
        public String relation;
        public double score;

        CandidateRow(Candidates.Candidate c) {
            candidate = c.candidate();
            other = c.other();
            relation = c.relation();
            score = c.score();
        }
    }

    /** The fact {@code vlkge.accept} created (or found). */
    public static class AcceptRow {
        public Relationship relationship;

        AcceptRow(Relationship r) {
            relationship = r;
        }
    }

    /** The {@code VLKGE_REJECTED} relationship {@code vlkge.reject} recorded. */
    public static class RejectRow {
        public Relationship rejected;

        RejectRow(Relationship r) {
            rejected = r;
        }
    }

    @Procedure(name = "vlkge.candidates", mode = Mode.READ)
    @Description("vlkge.candidates(node, {relation, minScore, direction: 'tail'|'head' (default both), runId, "
            + "limit}) YIELD candidate, other, relation, score - the node's published VLKGE_CANDIDATE links of the "
            + "active runs (or of runId), best first")
    public Stream<CandidateRow> candidates(@Name("node") Node node,
                                           @Name(value = "config", defaultValue = "{}") Map<String, Object> config) {
        if (node == null) {
            throw new VlkgeException("vlkge.candidates: node must be a node, got null");
        }
        ConfigMap c = new ConfigMap("vlkge.candidates", config, KEYS);
        String direction = c.string("direction", null);
        Candidates.Filter filter = new Candidates.Filter(c.string("relation", null), c.number("minScore"),
                direction == null || direction.equalsIgnoreCase("both") ? null : Direction.fromKey(direction),
                c.integer("limit", Long.MAX_VALUE, 0, Long.MAX_VALUE));
        List<Run> runs = RunLoader.runs(tx, c.string("runId", null));
        return Candidates.of(runs, node, filter).stream().map(CandidateRow::new);
    }

    @Procedure(name = "vlkge.accept", mode = Mode.WRITE)
    @Description("vlkge.accept(candidate) YIELD relationship - turn a VLKGE_CANDIDATE into the real fact "
            + "(head)-[:<candidate.type> {vlkge_accepted_at, vlkge_run_id, vlkge_score}]->(tail) and remove the "
            + "candidate")
    public Stream<AcceptRow> accept(@Name("candidate") Relationship candidate) {
        return Stream.of(new AcceptRow(Curation.accept(candidate, runIdOf(candidate))));
    }

    @Procedure(name = "vlkge.reject", mode = Mode.WRITE)
    @Description("vlkge.reject(candidate, reason) YIELD rejected - record (head)-[:VLKGE_REJECTED {relation, type, "
            + "reason, rejected_at, run_id, score}]->(tail) so the pair is never proposed again for that relation "
            + "(and is a hard negative in training), and remove the candidate")
    public Stream<RejectRow> reject(@Name("candidate") Relationship candidate,
                                    @Name(value = "reason", defaultValue = "") String reason) {
        return Stream.of(new RejectRow(Curation.reject(candidate, reason == null || reason.isEmpty() ? null : reason,
                runIdOf(candidate))));
    }

    /** The run id curation records; a null candidate is left to {@link Curation}'s own check. */
    private String runIdOf(Relationship candidate) {
        return candidate == null ? null : RunLoader.runIdOf(tx, candidate);
    }
}
