package mmapsnap

import (
	"sync"

	"github.com/cowbook/cowbook/internal/zeros"
)

// lz4Zeros reports whether src, one LZ4 block, decodes to exactly n zero
// bytes, without writing them: every literal byte is zero and every match
// copies from output already produced (which is then zeros too). It
// reports false for anything else, malformed input included; the caller
// then decodes src as usual, so a false answer is never wrong, only slower.
//
// The format (lz4_Block_format.md): a sequence is a token (literal length
// in its high nibble, match length − 4 in its low one, 15 meaning more
// bytes follow, each added until one is not 255), the literals, a 2-byte
// little-endian offset back into the output (1 or more) and the match;
// the last sequence has literals only.
func lz4Zeros(src []byte, n int) bool {
	pos, out := 0, 0
	length := func(l int) (int, bool) {
		for {
			if pos >= len(src) || l > n {
				return 0, false
			}
			b := src[pos]
			pos++
			l += int(b)
			if b != 255 {
				return l, l <= n
			}
		}
	}
	for {
		if pos >= len(src) {
			return false
		}
		token := src[pos]
		pos++
		lit := int(token >> 4)
		if lit == 15 {
			var ok bool
			if lit, ok = length(lit); !ok {
				return false
			}
		}
		if lit > len(src)-pos || lit > n-out {
			return false
		}
		if !zeros.All(src[pos : pos+lit]) {
			return false
		}
		pos += lit
		out += lit
		if pos == len(src) {
			// The last sequence: literals only, and no match length.
			return out == n && token&15 == 0
		}
		if len(src)-pos < 2 {
			return false
		}
		off := int(src[pos]) | int(src[pos+1])<<8
		pos += 2
		if off == 0 || off > out {
			return false
		}
		ml := int(token & 15)
		if ml == 15 {
			var ok bool
			if ml, ok = length(ml); !ok {
				return false
			}
		}
		ml += 4
		if ml > n-out {
			return false
		}
		out += ml
	}
}

// zeroSums caches the raw checksum of n zero bytes by format version and n
// (in practice the block size and the last block's size).
var zeroSums sync.Map // [2]uint64{version, n} → uint64

func zeroSum(version uint32, n int) uint64 {
	key := [2]uint64{uint64(version), uint64(n)}
	if v, ok := zeroSums.Load(key); ok {
		return v.(uint64)
	}
	s := rawSum(version, make([]byte, n))
	zeroSums.Store(key, s)
	return s
}

// touchPages writes a zero into every page of b (4 KiB apart, and its last
// byte), which holds only zeros: the pages are then faulted in, as writing
// b whole would fault them, without writing the rest.
func touchPages(b []byte) {
	for i := 0; i < len(b); i += 4096 {
		b[i] = 0
	}
	if len(b) > 0 {
		b[len(b)-1] = 0
	}
}
