// Package node is a durable cowbook node: it owns the data directory,
// recovers the engine from the newest snapshot that verifies plus the log,
// sequences client requests, logs them, applies them, and releases every
// outcome and execution report only once the log record that holds the
// command is durable.
//
// # Data directory
//
//	<data>/MANIFEST   capacities and initial symbols (see manifest.go)
//	<data>/wal/       the write-ahead log (package walfile)
//	<data>/snap/      snapshots of the engine arena (package mmapsnap)
//
// The manifest is written once, atomically (temporary file, fsync, rename,
// fsync of the directory), when a node first opens an empty directory. It
// fixes everything that shapes the arena, so that every restart and every
// replay from genesis formats the same arena.
//
// # Log records
//
// Every sequenced command is one walfile record of type RecordCommand
// ('C'), whose walfile sequence is the command's sequence, and whose
// 64-byte payload is
//
//	0   engine command (engine.CommandSize = 48 bytes, Command.AppendBinary)
//	48  client id  u64 little-endian (0: from no client: genesis symbols)
//	56  request id u64 little-endian
//
// The initial symbols are logged as S commands with sequences 1..k when the
// node is created, so a full replay from an empty arena reproduces them.
//
// # Arena and idempotency
//
// The engine arena carries an auxiliary region (engine.Config.AuxBytes)
// holding the gateway's idempotency table (gateway.Dedupe, first) and the
// owner table (the client id of the order resting in each slot of the
// engine's order pool, see owners.go, from the next 64-byte boundary). The node updates both for every applied command,
// in sequence order, live and during replay, so a snapshot plus the log
// rebuild them exactly: a request retried after a restart gets its original
// outcome, and the owner of an order resting since before the restart still
// gets its execution reports.
//
// # Pipeline
//
// One goroutine, locked to its OS thread, owns the engine. It takes requests
// from a bounded queue, appends each to the log, applies it at once (the
// engine runs ahead of the disk), and queues its outcome and execution
// reports. When the log's durable sequence advances, everything at or
// below it is released to the gateway in sequence order, by the log's I/O
// worker that made it durable (walfile.Options.OnDurable), so that an
// acknowledgement does not wait for the engine goroutine to wake up; the
// engine goroutine releases too, for what it queued after its record was
// already durable. A failed log write or fsync
// stops the node (fail-stop): nothing more is acknowledged and Run returns
// the error.
package node
