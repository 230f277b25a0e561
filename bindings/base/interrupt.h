#ifndef MEDIC_INTERRUPT_H
#define MEDIC_INTERRUPT_H

/* The one process-wide flag a SIGINT handler may set. Long operations (libcurl's progress callback,
 * WebSocket reads, file copies, waits) poll medic_interrupted() and stop with an "Interrupted" error. */
void medic_interrupt_set(int on);
int medic_interrupted(void);

#endif
