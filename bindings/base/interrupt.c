#include <signal.h>
#include "base/interrupt.h"

static volatile sig_atomic_t interrupted;

void medic_interrupt_set(int on)
{
	interrupted = on;
}

int medic_interrupted(void)
{
	return interrupted != 0;
}
