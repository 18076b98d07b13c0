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
