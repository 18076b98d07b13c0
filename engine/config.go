package engine

import (
	"errors"
	"fmt"
)

// Config sizes an engine. Nothing grows at run time: every capacity below is
// reserved in the arena when it is formatted, and a command that would
// exceed one is rejected with a reason.
type Config struct {
	// MaxOrders is the number of resting orders the book can hold across
	// all symbols. Zero means DefaultMaxOrders; at most 1<<30.
	MaxOrders int
	// MaxSymbols is the number of symbols that can be defined. Zero means
	// DefaultMaxSymbols; at most 65535.
	MaxSymbols int
	// MaxLevels is the largest number of price levels ((band_max -
	// band_min)/tick + 1) one symbol may have. Zero means DefaultMaxLevels;
	// at most 1<<30.
	MaxLevels int
	// LevelCapacity is the total number of price levels over all symbols
	// (each level exists on both sides). Zero means MaxLevels times 2, at
	// most MaxSymbols times MaxLevels.
	LevelCapacity int
	// AuxBytes reserves an auxiliary region of that many bytes at the end
	// of the arena (Engine.Aux), saved and restored with the arena but
	// never interpreted by the engine. Zero: none; at most 1<<40.
	AuxBytes int
	// Symbols are defined when the arena is formatted, as if by S commands
	// before sequence 1, but without events.
	Symbols []SymbolSpec
}

// SymbolSpec describes a symbol: prices are BandMin + k*Tick for k ≥ 0, up
// to BandMax.
type SymbolSpec struct {
	Symbol  Symbol
	Tick    Price
	BandMin Price
	BandMax Price
}

// Defaults for the zero values of Config.
const (
	DefaultMaxOrders  = 1 << 20
	DefaultMaxSymbols = 64
	DefaultMaxLevels  = 1 << 20
)

// ErrConfig is returned by New and ArenaSize when a Config is out of range
// or one of its Symbols cannot be defined.
var ErrConfig = errors.New("engine: invalid config")

// EnsureDefaults replaces zero values by their defaults.
func (c *Config) EnsureDefaults() {
	if c.MaxOrders == 0 {
		c.MaxOrders = DefaultMaxOrders
	}
	if c.MaxSymbols == 0 {
		c.MaxSymbols = DefaultMaxSymbols
	}
	if c.MaxLevels == 0 {
		c.MaxLevels = DefaultMaxLevels
	}
	if c.LevelCapacity == 0 {
		c.LevelCapacity = 2 * c.MaxLevels
		if m := c.MaxSymbols * c.MaxLevels; c.LevelCapacity > m {
			c.LevelCapacity = m
		}
	}
}

func (c *Config) check() error {
	switch {
	case c.MaxOrders < 1 || c.MaxOrders > 1<<30:
		return fmt.Errorf("%w: MaxOrders %d not in [1, 2^30]", ErrConfig, c.MaxOrders)
	case c.MaxSymbols < 1 || c.MaxSymbols > 65535:
		return fmt.Errorf("%w: MaxSymbols %d not in [1, 65535]", ErrConfig, c.MaxSymbols)
	case c.MaxLevels < 1 || c.MaxLevels > 1<<30:
		return fmt.Errorf("%w: MaxLevels %d not in [1, 2^30]", ErrConfig, c.MaxLevels)
	case c.LevelCapacity < 1 || c.LevelCapacity > 1<<32:
		return fmt.Errorf("%w: LevelCapacity %d not in [1, 2^32]", ErrConfig, c.LevelCapacity)
	case c.AuxBytes < 0 || c.AuxBytes > 1<<40:
		return fmt.Errorf("%w: AuxBytes %d not in [0, 2^40]", ErrConfig, c.AuxBytes)
	case len(c.Symbols) > c.MaxSymbols:
		return fmt.Errorf("%w: %d symbols, MaxSymbols %d", ErrConfig, len(c.Symbols), c.MaxSymbols)
	}
	return nil
}
