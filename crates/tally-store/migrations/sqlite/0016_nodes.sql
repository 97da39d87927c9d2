-- Several ingest nodes share a region's files: each node's write-ahead log is its own, so
-- how far it is flushed is recorded per node. The one position recorded before nodes had
-- ids moves to node '' until the first node to start takes it over.
CREATE TABLE node_flushes (
    region TEXT NOT NULL,
    node TEXT NOT NULL,
    sealed_through BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (region, node)
);
INSERT INTO node_flushes (region, node, sealed_through, updated_at)
    SELECT region, '', sealed_through, updated_at FROM event_flushes;
DROP TABLE event_flushes;

-- Work that one node at a time may do (compacting a region's files): held by `holder`
-- until `expires_at` (milliseconds), renewed while the work goes on.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
