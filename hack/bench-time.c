/*
 * hack/bench-time.c: times one command for hack/bench.
 *
 *   bench-time PROGRAM [ARGS...]
 *
 * Runs PROGRAM (an absolute path) with this process's stdin, stdout and
 * stderr, waits for it with wait4, and writes to descriptor 3 one line:
 *
 *   T0 T1 CPU MAXRSS STATUS
 *
 * T0 and T1: CLOCK_MONOTONIC in ns just before vfork and just after wait4
 * returned; CPU: user+sys of the command and whatever it reaped, in ns;
 * MAXRSS: its ru_maxrss in KiB; STATUS: the raw wait status. Exits 0 unless
 * it could not do that (then 125).
 *
 * Why not time from Python: a child that Python spawns starts as a copy (or
 * with vfork, a sharer) of the interpreter's memory, and the kernel keeps
 * the peak RSS of the memory a process had before its exec in ru_maxrss, so
 * every command would show at least the interpreter's 17 MiB. This program,
 * built with gcc -O2 -static, is a few hundred KiB.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

static long long ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	extern char **environ;
	struct rusage ru;
	int status;

	if (argc < 2) {
		fprintf(stderr, "usage: bench-time PROGRAM [ARGS...]\n");
		return 2;
	}
	long long t0 = ns();
	pid_t pid = vfork();
	if (pid < 0) {
		perror("bench-time: vfork");
		return 125;
	}
	if (pid == 0) {
		execve(argv[1], argv + 1, environ);
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("bench-time: wait4");
			return 125;
		}
	}
	long long t1 = ns();
	long long cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
			(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
	if (dprintf(3, "%lld %lld %lld %ld %d\n", t0, t1, cpu, ru.ru_maxrss, status) < 0) {
		perror("bench-time: write to descriptor 3");
		return 125;
	}
	return 0;
}
