package org.vlkge.graph;

import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.kernel.extension.ExtensionFactory;
import org.neo4j.kernel.extension.ExtensionType;
import org.neo4j.kernel.extension.context.ExtensionContext;
import org.neo4j.kernel.lifecycle.Lifecycle;
import org.neo4j.kernel.lifecycle.LifecycleAdapter;
import org.neo4j.logging.internal.LogService;

/**
 * Registers {@link EmbeddingChangeListener} for every user database, which enables {@link EmbeddingCache}
 * there. Loaded by Neo4j from {@code META-INF/services/org.neo4j.kernel.extension.ExtensionFactory}. If the
 * listener cannot be registered, the database starts anyway and the procedures read the store on every call.
 */
public final class EmbeddingCacheExtension extends ExtensionFactory<EmbeddingCacheExtension.Dependencies> {
    /** What Neo4j injects. */
    public interface Dependencies {
        GraphDatabaseService graphDatabaseService();

        DatabaseManagementService databaseManagementService();

        LogService logService();
    }

    public EmbeddingCacheExtension() {
        super(ExtensionType.DATABASE, "vlkge-embedding-cache");
    }

    @Override
    public Lifecycle newInstance(ExtensionContext context, Dependencies deps) {
        return new LifecycleAdapter() {
            private final EmbeddingChangeListener listener = new EmbeddingChangeListener(EmbeddingCache.SHARED);
            private String database;

            @Override
            public void start() {
                try {
                    String name = deps.graphDatabaseService().databaseName();
                    if ("system".equals(name)) {
                        return;
                    }
                    deps.databaseManagementService().registerTransactionEventListener(name, listener);
                    database = name;
                    EmbeddingCache.SHARED.track(name);
                } catch (RuntimeException e) {
                    warn("vlkge: embedding cache disabled (could not watch commits): " + e);
                }
            }

            @Override
            public void stop() {
                if (database == null) {
                    return;
                }
                EmbeddingCache.SHARED.untrack(database);
                try {
                    deps.databaseManagementService().unregisterTransactionEventListener(database, listener);
                } catch (RuntimeException e) {
                    warn("vlkge: could not unregister the embedding cache listener: " + e);
                }
                database = null;
            }

            private void warn(String message) {
                try {
                    deps.logService().getUserLog(EmbeddingCacheExtension.class).warn(message);
                } catch (RuntimeException e) {
                    System.err.println(message);
                }
            }
        };
    }
}
