#include "textflag.h"

// func prefetchW(p unsafe.Pointer)
//
// PREFETCHW (0F 0D /1), which the Go assembler does not know; CPUs
// without it (before Intel's Broadwell) run it as a NOP.
TEXT ·prefetchW(SB), NOSPLIT|NOFRAME, $0-8
	MOVQ p+0(FP), AX
	BYTE $0x0F; BYTE $0x0D; BYTE $0x08              // PREFETCHW (AX)
	BYTE $0x0F; BYTE $0x0D; BYTE $0x48; BYTE $0x40  // PREFETCHW 64(AX)
	BYTE $0x0F; BYTE $0x0D; BYTE $0x48; BYTE $0x7F  // PREFETCHW 127(AX)
	RET
