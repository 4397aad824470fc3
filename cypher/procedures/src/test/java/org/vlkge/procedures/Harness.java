package org.vlkge.procedures;

import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Function;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.Result;
import org.neo4j.graphdb.Transaction;
import org.neo4j.harness.Neo4j;
import org.neo4j.harness.Neo4jBuilders;

/**
 * An in-process Neo4j with the vlkge procedures, configured like the project's server: procedures allowed by
 * {@code dbms.security.procedures.allowlist=vlkge.*} and none unrestricted.
 */
final class Harness implements AutoCloseable {
    final Neo4j neo4j;
    final GraphDatabaseService db;

    Harness() {
        neo4j = Neo4jBuilders.newInProcessBuilder()
                .withDisabledServer()
                .withConfig(GraphDatabaseSettings.procedure_allowlist, List.of("vlkge.*"))
                .withProcedure(PredictProcedure.class)
                .withProcedure(CandidateProcedures.class)
                .withProcedure(SimilarProcedure.class)
                .withProcedure(InfoProcedure.class)
                .withFunction(ScoreFunction.class)
                .withAggregationFunction(FingerprintFunction.class)
                .build();
        db = neo4j.defaultDatabaseService();
    }

    static String uniqueLabel() {
        return "T" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
    }

    List<Map<String, Object>> rows(String cypher, Map<String, Object> params) {
        return db.executeTransactionally(cypher, params, r -> r.stream().toList());
    }

    List<Map<String, Object>> rows(String cypher) {
        return rows(cypher, Map.of());
    }

    Object single(String cypher, Map<String, Object> params) {
        List<Map<String, Object>> rows = rows(cypher, params);
        if (rows.size() != 1 || rows.get(0).size() != 1) {
            throw new AssertionError("expected one value, got " + rows);
        }
        return rows.get(0).values().iterator().next();
    }

    void run(String cypher, Map<String, Object> params) {
        db.executeTransactionally(cypher, params);
    }

    /** Work in one transaction that is rolled back (to look at a state without leaving it behind). */
    <T> T inRolledBackTx(Function<Transaction, T> work) {
        try (Transaction tx = db.beginTx()) {
            return work.apply(tx); // closed without commit: rolled back
        }
    }

    static List<Map<String, Object>> rows(Transaction tx, String cypher, Map<String, Object> params) {
        try (Result r = tx.execute(cypher, params)) {
            return r.stream().toList();
        }
    }

    @Override
    public void close() {
        neo4j.close();
    }
}
