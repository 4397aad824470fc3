package org.vlkge.procedures;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.neo4j.graphdb.Transaction;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;
import org.vlkge.graph.Run;
import org.vlkge.graph.RunLoader;

/**
 * {@code vlkge.info([runId])}: the runs the procedures use, as they see them: one row per active run (each scope
 * has its own; newest first), or the run {@code runId}.
 */
public class InfoProcedure {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Context
    public Transaction tx;

    /** One row of {@code vlkge.info}. */
    public static class Row {
        public String runId;
        public Long generation;
        public String scope;
        public String status;
        public boolean active;
        public String backbone;
        public long dim;
        public long entityWidth;
        public Double gamma;
        public Long p;
        public Boolean normalize;
        public boolean reciprocal;
        public String embeddingProperty;
        public String encoderImage;
        public String encoderText;
        public String fusion;
        public Map<String, Object> metrics;
        public Map<String, Object> config;
        public String dataHash;
        public String entityKey;
        public List<String> entityLabels;
        public List<String> relations;
        public Object createdAt;
        public Object publishedAt;
        public String pluginVersion;
    }

    @Procedure(name = "vlkge.info", mode = Mode.READ)
    @Description("vlkge.info([runId]) YIELD runId, generation, scope, status, active, backbone, dim, gamma, p, "
            + "normalize, reciprocal, embeddingProperty, encoderImage, encoderText, fusion, metrics, config, entityLabels, "
            + "relations, createdAt, publishedAt, ... - one row per active run (one per scope), or the run runId")
    public Stream<Row> info(@Name(value = "runId", defaultValue = "") String runId) {
        return RunLoader.runs(tx, runId).stream().map(InfoProcedure::row);
    }

    private static Row row(Run run) {
        Map<String, Object> n = run.node();
        Row row = new Row();
        row.runId = run.runId();
        row.generation = run.generation();
        row.scope = run.scope();
        row.status = string(n.get("status"));
        row.active = run.active();
        row.backbone = run.backbone().key();
        row.dim = run.backbone().dim();
        row.entityWidth = run.entityWidth();
        row.gamma = n.get("gamma") instanceof Number g ? g.doubleValue() : null;
        row.p = n.get("p") instanceof Number p ? p.longValue() : null;
        row.normalize = n.get("normalize") instanceof Boolean b ? b : null;
        row.reciprocal = run.reciprocal();
        row.embeddingProperty = run.embeddingProperty();
        row.encoderImage = string(n.get("encoder_image"));
        row.encoderText = string(n.get("encoder_text"));
        row.fusion = string(n.get("fusion"));
        row.metrics = json(n.get("metrics"));
        row.config = json(n.get("config"));
        row.dataHash = string(n.get("data_hash"));
        row.entityKey = string(n.get("entity_key"));
        row.entityLabels = run.entityLabels();
        List<String> relations = new ArrayList<>(run.byRelation().keySet());
        Collections.sort(relations);
        row.relations = relations;
        row.createdAt = n.get("created_at");
        row.publishedAt = n.get("published_at");
        row.pluginVersion = pluginVersion();
        return row;
    }

    static String pluginVersion() {
        String v = InfoProcedure.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    private static String string(Object value) {
        return value == null ? null : value.toString();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> json(Object value) {
        if (value == null) {
            return null;
        }
        if (!(value instanceof String s)) {
            return Map.of("value", value);
        }
        try {
            Object parsed = JSON.readValue(s, Object.class);
            return parsed instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of("value", parsed);
        } catch (JsonProcessingException e) {
            return Map.of("unparsed", s);
        }
    }
}
