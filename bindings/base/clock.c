#include <time.h>
#include "base/clock.h"
#include "base/interrupt.h"

double medic_clock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int medic_clock_sleep(double seconds)
{
	double left = seconds;

	while (left > 0 && !medic_interrupted()) {
		double step = left < 0.02 ? left : 0.02;
		struct timespec ts = {0, (long)(step * 1e9)};
		nanosleep(&ts, NULL);
		left -= step;
	}
	return medic_interrupted() ? -1 : 0;
}
