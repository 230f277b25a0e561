#ifndef MEDIC_CLOCK_H
#define MEDIC_CLOCK_H

/* Waiting and deadlines, shared by everything that polls: one monotonic clock and one interruptible sleep.
 * No Lua here: scripts reach them as medic.host's now() and sleep() (host/host.c). */

/* Seconds on a monotonic clock (a fraction), for deadlines. */
double medic_clock_now(void);
/* Sleeps in 20 ms slices so that Ctrl-C (medic_interrupted()) ends the wait at once. Returns 0 after the
 * whole wait, or -1 once interrupted (also when the flag was already set). */
int medic_clock_sleep(double seconds);

#endif
