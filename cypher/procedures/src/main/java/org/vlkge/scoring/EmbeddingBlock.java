package org.vlkge.scoring;

import java.util.Arrays;
import java.util.Map;

/**
 * Candidate entity vectors in one contiguous row-major {@code float[]} ({@code count x width}) with their
 * node ids, so scoring a query against all of them is a tight loop without per-node objects.
 * Immutable once built (it may be shared between calls by {@code EmbeddingCache}); {@link #patched} makes an
 * updated copy. A row whose id is {@link #REMOVED} is a tombstone: never a candidate.
 */
public final class EmbeddingBlock {
    /** The id of a removed row. */
    public static final long REMOVED = -1;

    private final long[] ids;
    private final float[] data;
    private final int width;
    private final int count;
    private final int skipped;
    private final int removed;
    private volatile double[] inverseNorms;
    /** Ids sorted, with their rows: the id -> row lookup {@link #patched} needs (built on first use). */
    private volatile long[][] index;

    /**
     * @param skipped nodes that had an embedding of another width (not scoreable by this run)
     */
    public EmbeddingBlock(long[] ids, float[] data, int width, int count, int skipped) {
        this(ids, data, width, count, skipped, 0);
    }

    private EmbeddingBlock(long[] ids, float[] data, int width, int count, int skipped, int removed) {
        if (data.length < (long) count * width || ids.length < count) {
            throw new IllegalArgumentException("block arrays are smaller than count x width");
        }
        this.ids = ids;
        this.data = data;
        this.width = width;
        this.count = count;
        this.skipped = skipped;
        this.removed = removed;
    }

    public long id(int row) {
        return ids[row];
    }

    public float[] data() {
        return data;
    }

    public int width() {
        return width;
    }

    /** Rows, tombstones included. */
    public int count() {
        return count;
    }

    public int skipped() {
        return skipped;
    }

    /** Tombstone rows (removed by {@link #patched}). */
    public int removed() {
        return removed;
    }

    /** Approximate heap footprint in bytes. */
    public long bytes() {
        return 4L * data.length + 8L * ids.length + (inverseNorms == null ? 0 : 8L * count)
                + (index == null ? 0 : 16L * count);
    }

    /** A copy of one row as doubles. */
    public double[] row(int row) {
        double[] out = new double[width];
        for (int i = 0, off = row * width; i < width; i++) {
            out[i] = data[off + i];
        }
        return out;
    }

    /** {@code 1 / max(||row||_2, eps)} per row (computed once, on first use). */
    public double[] inverseNorms() {
        double[] inv = inverseNorms;
        if (inv == null) {
            inv = new double[count];
            for (int row = 0, off = 0; row < count; row++, off += width) {
                double s = 0;
                for (int i = 0; i < width; i++) {
                    double v = data[off + i];
                    s += v * v;
                }
                inv[row] = 1.0 / Math.max(Math.sqrt(s), Query.NORMALIZE_EPS);
            }
            inverseNorms = inv;
        }
        return inv;
    }

    /**
     * A copy with {@code updates} applied: node id -> its new vector ({@code width} floats), or null when the
     * node is no longer a candidate. Changed rows are overwritten, new ids appended, removed rows become
     * tombstones. Costs one copy of the arrays, not a read of every node.
     */
    public EmbeddingBlock patched(Map<Long, float[]> updates) {
        int appended = 0;
        for (Map.Entry<Long, float[]> u : updates.entrySet()) {
            float[] v = u.getValue();
            if (v != null && v.length != width) {
                throw new IllegalArgumentException("patch vector width " + v.length + " != block width " + width);
            }
            if (v != null && rowOf(u.getKey()) < 0) {
                appended++;
            }
        }
        int newCount = count + appended;
        long[] newIds = Arrays.copyOf(ids, newCount);
        float[] newData = Arrays.copyOf(data, newCount * width);
        int newRemoved = removed;
        int next = count;
        for (Map.Entry<Long, float[]> u : updates.entrySet()) {
            float[] v = u.getValue();
            int row = rowOf(u.getKey());
            if (row >= 0 && v == null) {
                newIds[row] = REMOVED;
                newRemoved++;
            } else if (row >= 0) {
                System.arraycopy(v, 0, newData, row * width, width);
            } else if (v != null) {
                newIds[next] = u.getKey();
                System.arraycopy(v, 0, newData, next++ * width, width);
            }
        }
        return new EmbeddingBlock(newIds, newData, width, newCount, skipped, newRemoved);
    }

    /** The row holding node {@code id}, or -1. */
    public int rowOf(long id) {
        long[][] idx = index;
        if (idx == null) {
            idx = buildIndex();
            index = idx;
        }
        int at = Arrays.binarySearch(idx[0], id);
        return at >= 0 ? (int) idx[1][at] : -1;
    }

    /** {sorted live ids, their rows}; packs (id, row) into one long to sort primitives when ids allow. */
    private long[][] buildIndex() {
        long maxId = 0;
        int live = 0;
        for (int row = 0; row < count; row++) {
            if (ids[row] != REMOVED) {
                maxId = Math.max(maxId, ids[row]);
                live++;
            }
        }
        long[] sorted = new long[live];
        long[] rows = new long[live];
        if (maxId < (1L << 35) && count < (1 << 28)) {
            long[] packed = new long[live];
            for (int row = 0, i = 0; row < count; row++) {
                if (ids[row] != REMOVED) {
                    packed[i++] = (ids[row] << 28) | row;
                }
            }
            Arrays.sort(packed);
            for (int i = 0; i < live; i++) {
                sorted[i] = packed[i] >>> 28;
                rows[i] = packed[i] & ((1L << 28) - 1);
            }
        } else {
            Integer[] order = new Integer[count];
            for (int row = 0; row < count; row++) {
                order[row] = row;
            }
            Arrays.sort(order, (a, b) -> Long.compare(ids[a], ids[b]));
            int i = 0;
            for (int row : order) {
                if (ids[row] != REMOVED) {
                    sorted[i] = ids[row];
                    rows[i++] = row;
                }
            }
        }
        return new long[][] {sorted, rows};
    }

    /** Exact scores of every row under {@code query} (tombstones included; callers skip them). */
    public double[] score(Query query) {
        checkWidth(query);
        double[] inv = query.needsInverseNorms() ? inverseNorms() : null;
        double[] out = new double[count];
        for (int row = 0, off = 0; row < count; row++, off += width) {
            out[row] = query.score(data, off, inv == null ? 1.0 : inv[row]);
        }
        return out;
    }

    /** Float32 scores of every row under {@code query} (the ranking pass; see {@link Query#scoreAllFast}). */
    public float[] scoreFast(Query query) {
        checkWidth(query);
        float[] out = new float[count];
        query.scoreAllFast(data, count, query.needsInverseNorms() ? inverseNorms() : null, out);
        return out;
    }

    /** Exact score of one row. */
    public double score(Query query, int row) {
        checkWidth(query);
        return query.score(data, row * width, query.needsInverseNorms() ? inverseNorms()[row] : 1.0);
    }

    private void checkWidth(Query query) {
        if (query.width() != width) {
            throw new IllegalArgumentException("query width " + query.width() + " != block width " + width);
        }
    }
}
