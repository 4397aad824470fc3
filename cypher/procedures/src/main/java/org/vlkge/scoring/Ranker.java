package org.vlkge.scoring;

import java.util.function.LongPredicate;

/**
 * Top-k rows of an {@link EmbeddingBlock} under a {@link Query}: a float32 pass over every row keeps the best
 * {@code k + MARGIN}, which are then rescored exactly (double) and ranked again, so the reported scores are
 * exact and the order is the exact order unless float rounding (~1e-6 relative) moved a row past
 * {@code MARGIN} others.
 */
public final class Ranker {
    /** Extra rows rescored exactly beyond k. */
    public static final int MARGIN = 32;

    /** Rows best first with their exact scores. */
    public record Ranked(int[] rows, double[] scores) {
        public int size() {
            return rows.length;
        }
    }

    private Ranker() {
    }

    /**
     * @param skip node ids never returned (tested only for rows good enough to enter the pool)
     */
    public static Ranked top(EmbeddingBlock block, Query query, int k, LongPredicate skip) {
        if (k <= 0 || block.count() == 0) {
            return new Ranked(new int[0], new double[0]);
        }
        float[] fast = block.scoreFast(query);
        TopK pool = new TopK((int) Math.min((long) k + MARGIN, block.count()));
        // tombstones (removed rows) are never candidates
        for (int row = 0; row < fast.length; row++) {
            float s = fast[row];
            long id = block.id(row);
            if (id != EmbeddingBlock.REMOVED && pool.accepts(s, id) && !Float.isNaN(s) && !skip.test(id)) {
                pool.offer(row, s, id);
            }
        }
        int[] candidates = pool.rowsBestFirst();
        double[] candidateScores = new double[candidates.length];
        TopK exact = new TopK(k);
        for (int i = 0; i < candidates.length; i++) {
            candidateScores[i] = block.score(query, candidates[i]);
            exact.offer(i, candidateScores[i], block.id(candidates[i]));
        }
        int[] best = exact.rowsBestFirst();
        int[] rows = new int[best.length];
        double[] scores = new double[best.length];
        for (int i = 0; i < best.length; i++) {
            rows[i] = candidates[best[i]];
            scores[i] = candidateScores[best[i]];
        }
        return new Ranked(rows, scores);
    }
}
