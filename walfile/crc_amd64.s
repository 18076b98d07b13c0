//go:build amd64 && !purego

#include "textflag.h"

// func castagnoliRecord(crc uint32, rec *byte, words int) uint32
//
// crc is the CRC32C register (not inverted). It is updated with the 4 bytes
// at rec+4 (the length field: everything a record's checksum covers starts
// after the checksum field) and then with words 8-byte words from rec+8,
// one CRC32 instruction per word, and returned. The caller guarantees that
// the record holds 8+8·words bytes.
TEXT ·castagnoliRecord(SB), NOSPLIT, $0-28
	MOVL crc+0(FP), AX
	MOVQ rec+8(FP), SI
	MOVQ words+16(FP), CX
	CRC32L 4(SI), AX
	ADDQ $8, SI
	TESTQ CX, CX
	JZ done

loop:
	CRC32Q (SI), AX
	ADDQ $8, SI
	DECQ CX
	JNZ loop

done:
	MOVL AX, ret+24(FP)
	RET

// func castagnoliRecord3(crc *[3]uint32, r0, r1, r2 *byte, words int)
//
// castagnoliRecord for three records of the same size at once: the three
// registers in crc are updated in place. Each CRC32 instruction waits for
// the one before it on the same register; interleaving three records keeps
// the unit busy while they wait.
TEXT ·castagnoliRecord3(SB), NOSPLIT, $0-40
	MOVQ crc+0(FP), R9
	MOVQ r0+8(FP), SI
	MOVQ r1+16(FP), DI
	MOVQ r2+24(FP), R8
	MOVQ words+32(FP), CX
	MOVL 0(R9), AX
	MOVL 4(R9), BX
	MOVL 8(R9), DX
	CRC32L 4(SI), AX
	CRC32L 4(DI), BX
	CRC32L 4(R8), DX
	ADDQ $8, SI
	ADDQ $8, DI
	ADDQ $8, R8
	TESTQ CX, CX
	JZ done3

loop3:
	CRC32Q (SI), AX
	CRC32Q (DI), BX
	CRC32Q (R8), DX
	ADDQ $8, SI
	ADDQ $8, DI
	ADDQ $8, R8
	DECQ CX
	JNZ loop3

done3:
	MOVL AX, 0(R9)
	MOVL BX, 4(R9)
	MOVL DX, 8(R9)
	RET
