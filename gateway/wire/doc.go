// Package wire is cowbook's client protocol: the frames a client and the
// gateway exchange over TCP, their fixed little-endian layouts, and a decoder
// that is safe on untrusted bytes.
//
// Every frame is an 8-byte header followed by a body:
//
//	0       4      5       6          8
//	+-------+------+-------+----------+----------------------+
//	| len   | type | flags | reserved | body (len bytes)     |
//	| u32   | u8   | u8=0  | u16=0    |                      |
//	+-------+------+-------+----------+----------------------+
//
// len counts the body only. Every message type has a fixed body size, except
// Reject and Error, whose fixed part is followed by at most MaxTextLen bytes
// of text. The decoder checks len against the caller's limit before it reads
// or allocates anything, then checks that len is exactly what the type
// allows, that reserved bytes and padding are zero and that every enum holds
// a defined value, so that a frame that decodes re-encodes to the same bytes.
//
// A connection starts with Hello (client) and ServerHello (server); the
// layouts of those two messages never change between protocol versions, so a
// client and a server of different versions can always tell each other so.
// The full specification, with every layout and the idempotency rules, is
// docs/protocol.md. The constants in this package are the wire format:
// changing one changes the protocol version.
package wire
