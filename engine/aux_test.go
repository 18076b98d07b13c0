package engine

import (
	"errors"
	"testing"
	"unsafe"
)

// TestAuxRegion checks that the auxiliary region is placed after the heap,
// survives Attach of a copy, is covered by Checksum, and that an arena
// without one keeps the size it always had.
func TestAuxRegion(t *testing.T) {
	base := Config{MaxOrders: 1000, MaxSymbols: 4, MaxLevels: 1000}
	plain, err := ArenaSize(base)
	if err != nil {
		t.Fatal(err)
	}
	withAux := base
	withAux.AuxBytes = 3 << 20
	sized, err := ArenaSize(withAux)
	if err != nil {
		t.Fatal(err)
	}
	if sized <= plain || sized < 3<<20 {
		t.Fatalf("arena with 3 MiB aux is %d bytes, plain %d", sized, plain)
	}

	e, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	if e.Aux() != nil || len(e.Arena()) != plain {
		t.Fatalf("plain arena: aux %d bytes, arena %d want %d", len(e.Aux()), len(e.Arena()), plain)
	}
	e.Close()

	e, err = New(withAux)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	aux := e.Aux()
	if len(aux) != 3<<20 || cap(aux) != len(aux) {
		t.Fatalf("aux len %d cap %d", len(aux), cap(aux))
	}
	h := e.h
	if h.AuxOff < h.HeapOff+h.HeapSize || h.AuxOff%4096 != 0 || h.AuxOff+h.AuxSize > uint64(len(e.Arena())) {
		t.Fatalf("aux at %d+%d, heap ends %d, arena %d", h.AuxOff, h.AuxSize, h.HeapOff+h.HeapSize, len(e.Arena()))
	}
	before := e.Checksum()
	aux[12345] = 7
	if e.Checksum() == before {
		t.Fatal("Checksum does not cover the aux region")
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("Validate with a written aux region: %v", err)
	}

	mem, err := AllocArena(len(e.Arena()))
	if err != nil {
		t.Fatal(err)
	}
	defer FreeArena(mem)
	copy(mem, e.Arena())
	a, err := Attach(mem)
	if err != nil {
		t.Fatal(err)
	}
	if a.Aux()[12345] != 7 || len(a.Aux()) != len(aux) {
		t.Fatal("attached copy lost the aux region")
	}

	// A header whose aux offset disagrees with the capacities is refused.
	(*header)(unsafe.Pointer(&mem[0])).AuxOff += 4096
	if _, err := Attach(mem); !errors.Is(err, ErrLayout) {
		t.Fatalf("Attach with a moved aux region: %v, want ErrLayout", err)
	}
	(*header)(unsafe.Pointer(&mem[0])).AuxOff -= 4096
	(*header)(unsafe.Pointer(&mem[0])).AuxSize = 1 << 50
	if _, err := Attach(mem); !errors.Is(err, ErrLayout) {
		t.Fatalf("Attach with a huge aux region: %v, want ErrLayout", err)
	}
	if _, err := New(Config{AuxBytes: -1}); !errors.Is(err, ErrConfig) {
		t.Fatalf("negative AuxBytes: %v", err)
	}
}
