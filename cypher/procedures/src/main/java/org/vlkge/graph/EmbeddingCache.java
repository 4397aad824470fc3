package org.vlkge.graph;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import org.neo4j.graphdb.Transaction;
import org.neo4j.kernel.impl.coreapi.InternalTransaction;
import org.vlkge.scoring.EmbeddingBlock;

/**
 * Candidate embedding blocks shared between calls, so a query does not read every embedding from the store
 * on every call (reading 41k dim-256 vectors takes the best part of a second; scoring them, milliseconds).
 *
 * <p>A block holds one embedding property (a run's slot, {@code vlkge_embedding_a} or {@code _b}) of the nodes
 * with some labels; blocks of different properties are independent, so a publish writing the other slot leaves
 * the active slot's blocks alone. Blocks are only cached for a database whose commits
 * {@link EmbeddingChangeListener} reports. A commit that changes a node's embedding property (any property
 * named {@code vlkge_embedding*}), or adds or removes a label a block was built from, marks that node dirty in
 * the blocks of that property (a label change: in the blocks over that label); the next call re-reads only
 * the dirty nodes and patches a copy of the block (a full re-read when a large share changed, e.g. after a
 * publish). Other writes (curation,
 * candidates, unrelated data) keep the blocks. A block built or patched while another relevant commit was
 * applied is used for that call but not kept (generation check), and a transaction with its own uncommitted
 * changes always reads the store. Least recently used blocks go first when the budget (a quarter of the
 * heap by default) is exceeded.
 */
public final class EmbeddingCache {
    /** The cache the procedures use; the listener reports to it. */
    public static final EmbeddingCache SHARED = new EmbeddingCache(Runtime.getRuntime().maxMemory() / 4);

    private record Key(String database, String property, List<String> labels, int width) {
    }

    /** A cached block and the nodes changed since it was built. */
    private static final class Entry {
        final EmbeddingBlock block;
        final Set<Long> dirty = new HashSet<>();

        Entry(EmbeddingBlock block) {
            this.block = block;
        }
    }

    private final long budgetBytes;
    private final LinkedHashMap<Key, Entry> blocks = new LinkedHashMap<>(16, 0.75f, true);
    /** Databases whose commits are reported, with a counter bumped by every relevant commit. */
    private final Map<String, Long> generations = new HashMap<>();
    private long lastGeneration;
    private long bytes;
    private long hits;
    private long loads;
    private long patches;

    public EmbeddingCache(long budgetBytes) {
        this.budgetBytes = budgetBytes;
    }

    /**
     * The {@code property} embeddings of nodes with one of {@code labels} (all nodes when empty) that are
     * {@code width} wide.
     */
    public EmbeddingBlock block(Transaction tx, String database, List<String> labels, String property, int width) {
        Key key = new Key(database, property, List.copyOf(labels), width);
        if (hasOwnChanges(tx)) {
            return EmbeddingLoader.load(tx, labels, property, width);
        }
        Long generation;
        EmbeddingBlock base = null;
        Set<Long> dirty = Set.of();
        synchronized (this) {
            generation = generations.get(database);
            Entry entry = generation == null ? null : blocks.get(key);
            if (entry != null && entry.dirty.isEmpty()) {
                hits++;
                return entry.block;
            }
            if (entry != null) {
                base = entry.block;
                dirty = new HashSet<>(entry.dirty);
                patches++;
            } else {
                loads++;
            }
        }
        EmbeddingBlock block = base == null ? EmbeddingLoader.load(tx, labels, property, width)
                : base.patched(EmbeddingLoader.read(tx, dirty, labels, property, width));
        if (base != null && block.removed() > block.count() / 4) {
            block = EmbeddingLoader.load(tx, labels, property, width); // compact away the tombstones
        }
        if (generation != null && block.bytes() <= budgetBytes) {
            synchronized (this) {
                if (generation.equals(generations.get(database))) {
                    Entry old = blocks.put(key, new Entry(block));
                    bytes += block.bytes() - (old == null ? 0 : old.block.bytes());
                    evict();
                }
            }
        }
        return block;
    }

    /** Start caching for {@code database} (its commits are now reported). */
    public synchronized void track(String database) {
        generations.put(database, ++lastGeneration);
    }

    /** Stop caching for {@code database} and drop its blocks. */
    public synchronized void untrack(String database) {
        generations.remove(database);
        dropIf(k -> k.database().equals(database));
    }

    /**
     * A commit in {@code database} changed embedding properties ({@code embeddingNodes}: property -> node ids)
     * and added or removed labels ({@code labelNodes}: label -> node ids).
     */
    public synchronized void changed(String database, Map<String, Set<Long>> embeddingNodes,
                                     Map<String, Set<Long>> labelNodes) {
        if (embeddingNodes.isEmpty() && labelNodes.isEmpty() || !generations.containsKey(database)) {
            return;
        }
        generations.put(database, ++lastGeneration);
        for (Iterator<Map.Entry<Key, Entry>> it = blocks.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Key, Entry> e = it.next();
            if (!e.getKey().database().equals(database)) {
                continue;
            }
            Entry entry = e.getValue();
            entry.dirty.addAll(embeddingNodes.getOrDefault(e.getKey().property(), Set.of()));
            for (String label : e.getKey().labels()) {
                entry.dirty.addAll(labelNodes.getOrDefault(label, Set.of()));
            }
            if (entry.dirty.size() > Math.max(64, entry.block.count() / 4)) { // re-reading all is as cheap
                bytes -= entry.block.bytes();
                it.remove();
            }
        }
    }

    /** {hits, full loads, patches, cached blocks, cached bytes}. */
    public synchronized long[] stats() {
        return new long[] {hits, loads, patches, blocks.size(), bytes};
    }

    public synchronized void clear() {
        blocks.clear();
        bytes = 0;
    }

    private void dropIf(Predicate<Key> drop) {
        for (Iterator<Map.Entry<Key, Entry>> it = blocks.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Key, Entry> e = it.next();
            if (drop.test(e.getKey())) {
                bytes -= e.getValue().block.bytes();
                it.remove();
            }
        }
    }

    private void evict() {
        for (Iterator<Entry> it = blocks.values().iterator(); bytes > budgetBytes && it.hasNext(); ) {
            bytes -= it.next().block.bytes();
            it.remove();
        }
    }

    /** Whether the calling transaction has uncommitted writes (then the committed-state cache does not apply). */
    private static boolean hasOwnChanges(Transaction tx) {
        if (tx instanceof InternalTransaction internal) {
            return internal.kernelTransaction().dataRead().transactionStateHasChanges();
        }
        return true;
    }
}
