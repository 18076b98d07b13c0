package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/internal/vfs"
)

// ManifestName is the manifest's file name in the data directory.
const ManifestName = "MANIFEST"

// ErrManifest is returned by Open when the manifest exists but is damaged
// or of an unknown version.
var ErrManifest = errors.New("node: bad manifest")

// Manifest fixes the shape of a node's arena for the life of its data
// directory.
//
// Format (little-endian):
//
//	0   magic "CBMANIFS"
//	8   version u32 (3: the auxiliary region holds the idempotency table
//	    and the owner table indexed by order pool slot; 2 had an owner
//	    table hashed by order id, 1 none)
//	12  max orders u32 | 16 max symbols u32 | 20 max levels u32
//	24  level capacity u64
//	32  dedupe clients u32 | 36 dedupe window u32
//	40  symbol count u32
//	44  symbols: count × {symbol u64, tick i64, band min i64, band max i64}
//	…   crc32c (Castagnoli) u32 of every byte before it
type Manifest struct {
	MaxOrders     int
	MaxSymbols    int
	MaxLevels     int
	LevelCapacity int
	DedupeClients int
	DedupeWindow  int
	Symbols       []engine.SymbolSpec
}

const manifestMagic = "CBMANIFS"

const manifestVersion = 3

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// engineConfig is the engine configuration the manifest describes; the
// symbols are not in it: they are logged at genesis.
func (m *Manifest) engineConfig() (engine.Config, error) {
	size := gateway.DedupeSize(m.DedupeClients, m.DedupeWindow)
	if size == 0 {
		return engine.Config{}, fmt.Errorf("%w: idempotency table %d × %d", ErrManifest, m.DedupeClients, m.DedupeWindow)
	}
	return engine.Config{
		MaxOrders:     m.MaxOrders,
		MaxSymbols:    m.MaxSymbols,
		MaxLevels:     m.MaxLevels,
		LevelCapacity: m.LevelCapacity,
		AuxBytes:      ownersOffset(size) + ownerTableSize(m.MaxOrders),
	}, nil
}

// ownersOffset is where the owner table starts in the auxiliary region:
// after the idempotency table of dedupeBytes, cache-line aligned.
func ownersOffset(dedupeBytes int) int { return (dedupeBytes + 63) &^ 63 }

// auxParts splits the auxiliary region into the idempotency table and the
// owner table.
func (m *Manifest) auxParts(aux []byte) (dedupe, owners []byte) {
	size := gateway.DedupeSize(m.DedupeClients, m.DedupeWindow)
	return aux[:size:size], aux[ownersOffset(size):]
}

func (m *Manifest) marshal() []byte {
	b := make([]byte, 0, 48+32*len(m.Symbols))
	b = append(b, manifestMagic...)
	b = binary.LittleEndian.AppendUint32(b, manifestVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(m.MaxOrders))
	b = binary.LittleEndian.AppendUint32(b, uint32(m.MaxSymbols))
	b = binary.LittleEndian.AppendUint32(b, uint32(m.MaxLevels))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.LevelCapacity))
	b = binary.LittleEndian.AppendUint32(b, uint32(m.DedupeClients))
	b = binary.LittleEndian.AppendUint32(b, uint32(m.DedupeWindow))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.Symbols)))
	for _, s := range m.Symbols {
		b = binary.LittleEndian.AppendUint64(b, uint64(s.Symbol))
		b = binary.LittleEndian.AppendUint64(b, uint64(s.Tick))
		b = binary.LittleEndian.AppendUint64(b, uint64(s.BandMin))
		b = binary.LittleEndian.AppendUint64(b, uint64(s.BandMax))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func unmarshalManifest(b []byte) (*Manifest, error) {
	if len(b) < 48 || string(b[:8]) != manifestMagic {
		return nil, fmt.Errorf("%w: not a manifest (%d bytes)", ErrManifest, len(b))
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrManifest)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != manifestVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d (the arena layout differs: start from an empty data directory)", ErrManifest, v, manifestVersion)
	}
	m := &Manifest{
		MaxOrders:     int(binary.LittleEndian.Uint32(b[12:])),
		MaxSymbols:    int(binary.LittleEndian.Uint32(b[16:])),
		MaxLevels:     int(binary.LittleEndian.Uint32(b[20:])),
		LevelCapacity: int(binary.LittleEndian.Uint64(b[24:])),
		DedupeClients: int(binary.LittleEndian.Uint32(b[32:])),
		DedupeWindow:  int(binary.LittleEndian.Uint32(b[36:])),
	}
	n := int(binary.LittleEndian.Uint32(b[40:]))
	if len(body) != 44+32*n {
		return nil, fmt.Errorf("%w: %d symbols in %d bytes", ErrManifest, n, len(b))
	}
	for i := 0; i < n; i++ {
		p := body[44+32*i:]
		m.Symbols = append(m.Symbols, engine.SymbolSpec{
			Symbol:  engine.Symbol(binary.LittleEndian.Uint64(p)),
			Tick:    engine.Price(binary.LittleEndian.Uint64(p[8:])),
			BandMin: engine.Price(binary.LittleEndian.Uint64(p[16:])),
			BandMax: engine.Price(binary.LittleEndian.Uint64(p[24:])),
		})
	}
	return m, nil
}

// readManifest returns the manifest of dir, or nil, nil when there is none.
func readManifest(fs vfs.FS, dir string) (*Manifest, error) {
	name := filepath.Join(dir, ManifestName)
	if _, _, err := fs.Stat(name); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	b, err := vfs.ReadFile(fs, name)
	if err != nil {
		return nil, err
	}
	m, err := unmarshalManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// writeManifest publishes m in dir atomically and durably: a temporary
// file, fsync, rename, fsync of dir.
func writeManifest(fs vfs.FS, dir string, m *Manifest) error {
	tmp := filepath.Join(dir, ManifestName+".tmp")
	f, err := vfs.Create(fs, tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(m.marshal()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, filepath.Join(dir, ManifestName)); err != nil {
		return err
	}
	return fs.SyncDir(dir)
}
