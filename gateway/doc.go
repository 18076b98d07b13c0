// Package gateway is cowbook's TCP front door: it speaks the client protocol
// of package wire, validates requests, deduplicates them per client id, hands
// the new ones to a Backend (the node's sequencer), and carries the node's
// outcomes and execution reports back to the right connection without ever
// making the node wait on a socket.
//
// # Flow
//
// Each connection has one reader goroutine and one writer goroutine. The
// reader decodes a frame, checks it, and for a new request calls
// Backend.Submit, which must only enqueue it. Later, once the command is
// durable, the node calls Session.Complete with the outcome and
// Server.Deliver for each execution report. Both only put a fixed-size
// message on the connection's bounded outbound queue; the writer drains
// that queue into the socket. A client that does not read fast enough
// fills its queue and is disconnected: the node never blocks on it.
//
// # Limits
//
// Per connection: the frame body size (Options.MaxFrameBody), the number of
// requests handed to the backend whose outcome has not come back
// (Options.MaxOutstanding: at the limit the reader stops reading the socket,
// so TCP flow control pushes back on the client), and the outbound queue
// (Options.OutboundQueue). A frame that breaks the protocol (malformed,
// oversized, unknown type, wrong version, a second Hello) gets an Error frame
// and the connection is closed; nothing from that frame reaches the backend.
// Shutdown stops reading requests, delivers every outcome still owed, then
// closes; Close closes at once.
//
// # Idempotency
//
// Request ids are strictly increasing per client id (gaps allowed). The
// Dedupe table remembers, per client id, the last id accepted and the
// outcomes of the last Window requests; a request at or below the last id is
// never sequenced again: it gets its original outcome, or nothing yet if it is
// still in flight (its outcome goes to the client's current connection), or a
// reject saying the id is stale or too old. docs/protocol.md states the rules
// and what the node must log so that the table survives a restart.
package gateway
