//go:build amd64 && !purego

#include "textflag.h"

// func prefetchWrite(p *byte)
//
// PREFETCHW of the eight 64-byte lines from p: asks for them in a state
// that lets this core write them. The Go assembler has no PREFETCHW
// mnemonic; 0F 0D /1 with ModRM 0x08 is PREFETCHW (AX).
TEXT ·prefetchWrite(SB), NOSPLIT, $0-8
	MOVQ p+0(FP), AX
	MOVQ $8, CX

line:
	BYTE $0x0F; BYTE $0x0D; BYTE $0x08 // PREFETCHW (AX)
	ADDQ $64, AX
	DECQ CX
	JNZ  line
	RET

// func cpuPrefetchW() bool
//
// CPUID 0x80000001, ECX bit 8 (PRFCHW, "3DNowPrefetch"): the CPU has
// PREFETCHW.
TEXT ·cpuPrefetchW(SB), NOSPLIT, $0-1
	MOVL $0x80000000, AX
	XORL CX, CX
	CPUID
	CMPL AX, $0x80000001
	JB no
	MOVL $0x80000001, AX
	XORL CX, CX
	CPUID
	SHRL $8, CX
	ANDL $1, CX
	MOVB CX, ret+0(FP)
	RET
no:
	MOVB $0, ret+0(FP)
	RET
