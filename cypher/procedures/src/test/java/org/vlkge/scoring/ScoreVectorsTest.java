package org.vlkge.scoring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.vlkge.scoring.backbones.Backbones;

/**
 * The Java scorer against the shared test vectors the Python backbones generated
 * ({@code python -m vlkge_graph.models.test_vectors}): triple scores, tail queries, head queries, and head
 * queries of a reciprocal model (the tail query with the inverse relation, as {@code Run.query} builds it).
 */
public class ScoreVectorsTest {
    public static JsonNode document() throws IOException {
        try (InputStream in = ScoreVectorsTest.class.getResourceAsStream("/score_vectors.json")) {
            if (in == null) {
                throw new IOException("score_vectors.json is missing: run python -m vlkge_graph.models.test_vectors");
            }
            return new ObjectMapper().readTree(in);
        }
    }

    static Stream<JsonNode> cases() throws IOException {
        List<JsonNode> out = new ArrayList<>();
        document().get("cases").forEach(out::add);
        return out.stream();
    }

    public static double[] vector(JsonNode node) {
        double[] out = new double[node.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = node.get(i).asDouble();
        }
        return out;
    }

    static float[] block(JsonNode rows, int width) {
        float[] out = new float[rows.size() * width];
        for (int r = 0; r < rows.size(); r++) {
            for (int i = 0; i < width; i++) {
                out[r * width + i] = (float) rows.get(r).get(i).asDouble();
            }
        }
        return out;
    }

    /** The run node properties a case describes: {@code backbone}, {@code dim} and the backbone's options. */
    public static Map<String, Object> runProperties(JsonNode c) {
        Map<String, Object> props = new LinkedHashMap<>();
        props.put("backbone", c.get("backbone").asText());
        props.put("dim", c.get("dim").asInt());
        props.putAll(new ObjectMapper().convertValue(c.get("options"), new TypeReference<Map<String, Object>>() { }));
        return props;
    }

    /** The backbone a case describes (as a (:VlkgeRun) node would). */
    static Backbone backbone(JsonNode c) {
        return Backbones.create(new BackboneOptions("case '" + c.get("name").asText() + "'", runProperties(c)));
    }

    @Test
    void everyBackboneOfTheVectorsHasAJavaClassAndEveryJavaClassIsChecked() throws IOException {
        Set<String> inVectors = new TreeSet<>();
        cases().forEach(c -> inVectors.add(c.get("backbone").asText()));
        for (String key : inVectors) {
            assertTrue(Backbones.keys().contains(key), "backbone '" + key + "' of score_vectors.json has no Java "
                    + "class: add one in org.vlkge.scoring.backbones and its entry in Backbones");
        }
        assertEquals(Backbones.keys(), inVectors, "a Java backbone without shared vectors is never checked against "
                + "Python: add a case to vlkge_graph/models/test_vectors.py");
    }

    @Test
    void coversEveryBackboneAndVariant() throws IOException {
        Set<String> variants = new HashSet<>();
        cases().forEach(c -> variants.add(c.get("backbone").asText() + "/p" + c.get("p").asInt() + "/"
                + c.get("normalize").asBoolean()));
        for (String v : List.of("transe/p1/true", "transe/p1/false", "transe/p2/true", "transe/p2/false",
                "rotate/p1/false", "rotate/p2/false")) {
            assertTrue(variants.contains(v), v + " missing from score_vectors.json");
        }
        assertTrue(variants.stream().anyMatch(v -> v.startsWith("distmult/")));
        assertTrue(variants.stream().anyMatch(v -> v.startsWith("complex/")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void tripleScoresMatchPython(JsonNode c) throws IOException {
        double tolerance = document().get("tolerance").asDouble();
        Backbone s = backbone(c);
        double[] r = vector(c.get("relation"));
        JsonNode heads = c.get("heads");
        JsonNode tails = c.get("tails");
        for (int i = 0; i < heads.size(); i++) {
            double expected = c.get("scores").get(i).asDouble();
            assertEquals(expected, s.score(vector(heads.get(i)), r, vector(tails.get(i))), tolerance,
                    c.get("name").asText() + " triple " + i);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void tailAndHeadQueriesMatchPython(JsonNode c) throws IOException {
        double tolerance = document().get("tolerance").asDouble();
        Backbone s = backbone(c);
        double[] r = vector(c.get("relation"));
        int width = s.entityWidth();
        JsonNode heads = c.get("heads");
        JsonNode tails = c.get("tails");
        EmbeddingBlock tailBlock = new EmbeddingBlock(new long[tails.size()], block(tails, width), width,
                tails.size(), 0);
        double[] tailScores = tailBlock.score(s.query(vector(heads.get(0)), r, Direction.TAIL));
        EmbeddingBlock headBlock = new EmbeddingBlock(new long[heads.size()], block(heads, width), width,
                heads.size(), 0);
        double[] headScores = headBlock.score(s.query(vector(tails.get(0)), r, Direction.HEAD));
        // the float32 ranking pass of vlkge.predict is within the tolerance too
        float[] fastTails = tailBlock.scoreFast(s.query(vector(heads.get(0)), r, Direction.TAIL));
        float[] fastHeads = headBlock.scoreFast(s.query(vector(tails.get(0)), r, Direction.HEAD));
        for (int j = 0; j < tails.size(); j++) {
            String name = c.get("name").asText();
            assertEquals(c.get("tail_scores").get(j).asDouble(), tailScores[j], tolerance, name + " tail query " + j);
            assertEquals(c.get("head_scores").get(j).asDouble(), headScores[j], tolerance, name + " head query " + j);
            assertEquals(c.get("tail_scores").get(j).asDouble(), fastTails[j], tolerance, name + " fast tail " + j);
            assertEquals(c.get("head_scores").get(j).asDouble(), fastHeads[j], tolerance, name + " fast head " + j);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void reciprocalHeadQueriesMatchPython(JsonNode c) throws IOException {
        double tolerance = document().get("tolerance").asDouble();
        Backbone s = backbone(c);
        int width = s.entityWidth();
        JsonNode heads = c.get("heads");
        EmbeddingBlock headBlock = new EmbeddingBlock(new long[heads.size()], block(heads, width), width,
                heads.size(), 0);
        Query query = s.query(vector(c.get("tails").get(0)), vector(c.get("inverse_relation")), Direction.TAIL);
        double[] exact = headBlock.score(query);
        float[] fast = headBlock.scoreFast(query);
        for (int j = 0; j < heads.size(); j++) {
            double expected = c.get("reciprocal_head_scores").get(j).asDouble();
            String name = c.get("name").asText();
            assertEquals(expected, exact[j], tolerance, name + " reciprocal head query " + j);
            assertEquals(expected, fast[j], tolerance, name + " fast reciprocal head query " + j);
        }
    }

    @Test
    void calibratedProbabilitiesMatchPython() throws IOException {
        JsonNode cases = document().get("calibration");
        assertTrue(cases != null && cases.size() > 0, "score_vectors.json has no calibration cases");
        for (JsonNode c : cases) {
            double a = c.get("a").asDouble();
            double b = c.get("b").asDouble();
            for (int i = 0; i < c.get("scores").size(); i++) {
                double score = c.get("scores").get(i).asDouble();
                assertEquals(c.get("probabilities").get(i).asDouble(),
                        org.vlkge.graph.RelationParams.platt(a, b, score), 1e-12, "a=" + a + " b=" + b + " s=" + score);
            }
        }
    }
}
