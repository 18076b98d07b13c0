package gateway

import (
	"fmt"
	"time"

	"github.com/cowbook/cowbook/gateway/wire"
)

// DefaultAddr is where the gateway listens unless told otherwise.
const DefaultAddr = "127.0.0.1:7070"

// Options configures a Server. Every zero value means the documented default.
type Options struct {
	// MaxFrameBody bounds the body of a frame a client may send; a longer
	// one is refused before it is read. Default and minimum:
	// wire.MaxClientBodySize (56), the largest client message.
	MaxFrameBody int
	// MaxOutstanding bounds, per connection, the requests handed to the
	// backend whose outcome has not come back. At the limit the connection
	// is not read until an outcome arrives. Default 256.
	MaxOutstanding int
	// OutboundQueue bounds, per connection, the messages waiting to be
	// written (64 bytes each, allocated when the connection opens). A
	// client that lets it fill is disconnected. Default 1024.
	OutboundQueue int
	// MaxConnections bounds the open connections. Default 1024.
	MaxConnections int
	// Dedupe is the idempotency table to start from: the one the node
	// recovered. Nil: an empty table of MaxClients × DedupeWindow.
	Dedupe *Dedupe
	// MaxClients and DedupeWindow size a new idempotency table (ignored
	// when Dedupe is given). Defaults 1024 and 1024. The window must be at
	// least MaxOutstanding, so that a retried request that is still in
	// flight is always found.
	MaxClients   int
	DedupeWindow int
	// HandshakeTimeout bounds the wait for a Hello. Default 5 s.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that sends nothing (not even a
	// heartbeat) for that long. Default 0: never.
	IdleTimeout time.Duration
	// WriteTimeout bounds one socket write; a client that does not drain
	// its socket for that long is disconnected. Default 10 s.
	WriteTimeout time.Duration
	// Logf, if set, receives one line per connection closed abnormally.
	Logf func(format string, args ...any)
}

// EnsureDefaults fills the zero fields with their defaults and checks the
// rest.
func (o *Options) EnsureDefaults() error {
	if o.MaxFrameBody == 0 {
		o.MaxFrameBody = wire.MaxClientBodySize
	}
	if o.MaxOutstanding == 0 {
		o.MaxOutstanding = 256
	}
	if o.OutboundQueue == 0 {
		o.OutboundQueue = 1024
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = 1024
	}
	if o.MaxClients == 0 {
		o.MaxClients = 1024
	}
	if o.DedupeWindow == 0 {
		o.DedupeWindow = 1024
	}
	if o.Dedupe != nil {
		o.MaxClients, o.DedupeWindow = o.Dedupe.Clients(), o.Dedupe.Window()
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 5 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 10 * time.Second
	}
	switch {
	case o.MaxFrameBody < wire.MaxClientBodySize || o.MaxFrameBody > wire.MaxBodySize:
		return fmt.Errorf("gateway: MaxFrameBody %d outside [%d, %d]", o.MaxFrameBody, wire.MaxClientBodySize, wire.MaxBodySize)
	case o.MaxOutstanding < 1 || o.OutboundQueue < 1 || o.MaxConnections < 1:
		return fmt.Errorf("gateway: limits must be positive (outstanding %d, queue %d, connections %d)", o.MaxOutstanding, o.OutboundQueue, o.MaxConnections)
	case o.OutboundQueue < o.MaxOutstanding:
		return fmt.Errorf("gateway: OutboundQueue %d below MaxOutstanding %d: a client's own outcomes would overflow it", o.OutboundQueue, o.MaxOutstanding)
	case o.DedupeWindow < o.MaxOutstanding:
		return fmt.Errorf("gateway: DedupeWindow %d below MaxOutstanding %d", o.DedupeWindow, o.MaxOutstanding)
	case DedupeSize(o.MaxClients, o.DedupeWindow) == 0:
		return fmt.Errorf("gateway: bad idempotency table size %d × %d", o.MaxClients, o.DedupeWindow)
	case o.HandshakeTimeout < 0 || o.IdleTimeout < 0 || o.WriteTimeout < 0:
		return fmt.Errorf("gateway: negative timeout")
	}
	return nil
}
