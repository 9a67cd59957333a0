/* The smallest program of a bitness: the floor for starting a process
 * (bench/start_bench.cpp compares the surrogate's start with it). */
int main(void) { return 0; }
