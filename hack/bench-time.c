/*
 * hack/bench-time.c: times commands for hack/bench.
 *
 *   bench-time PROGRAM [ARGS...]
 *   bench-time --seq STEP [';;' STEP]...
 *       STEP: PROGRAM [ARGS...], or --wait PIDFILE
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
 * With --seq, the steps run back to back and each writes its line; the
 * sequence stops after a step whose status is not 0. `--wait PIDFILE`
 * waits for the process whose pid PIDFILE holds: this program is then a
 * child subreaper, so a container's init, orphaned when the runtime that
 * made it exits, is its child (T0 is taken before the pid file is read).
 * Why a sequence here: between commands that Python starts one by one lie
 * the interpreter's own work and this program's start (about 0.4 ms per
 * command on the development VM), the same for every runtime, which would
 * count as the runtimes' time in hack/bench's create-to-delete figure.
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
#include <sys/prctl.h>
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

/* wait4 for pid; 0, or -1 with errno set. */
static int reap(pid_t pid, int *status, struct rusage *ru)
{
	while (wait4(pid, status, 0, ru) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

static int report(long long t0, long long t1, const struct rusage *ru, int status)
{
	long long cpu = (ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000000LL +
			(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1000LL;
	if (dprintf(3, "%lld %lld %lld %ld %d\n", t0, t1, cpu, ru->ru_maxrss, status) < 0) {
		perror("bench-time: write to descriptor 3");
		return 125;
	}
	return 0;
}

/* Runs argv (NULL-terminated) and reports it; *status gets its status. */
static int run(char **argv, int *status)
{
	extern char **environ;
	struct rusage ru;
	long long t0 = ns();
	pid_t pid = vfork();
	if (pid < 0) {
		perror("bench-time: vfork");
		return 125;
	}
	if (pid == 0) {
		execve(argv[0], argv, environ);
		_exit(127);
	}
	if (reap(pid, status, &ru) < 0) {
		perror("bench-time: wait4");
		return 125;
	}
	return report(t0, ns(), &ru, *status);
}

/* Waits for the process named in pidfile, as its reaper where it is our
 * child, and by polling its /proc entry where it is not. */
static int wait_for(const char *pidfile, int *status)
{
	struct rusage ru;
	long long t0 = ns();
	FILE *f = fopen(pidfile, "r");
	int pid = 0;
	if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 0) {
		fprintf(stderr, "bench-time: no pid in %s\n", pidfile);
		return 125;
	}
	fclose(f);
	memset(&ru, 0, sizeof ru);
	*status = 0;
	if (reap(pid, status, &ru) < 0) {
		if (errno != ECHILD) {
			perror("bench-time: wait4");
			return 125;
		}
		char path[64], buf[512];
		snprintf(path, sizeof path, "/proc/%d/stat", pid);
		for (;;) {
			FILE *s = fopen(path, "r");
			if (!s)
				break;
			size_t n = fread(buf, 1, sizeof buf - 1, s);
			fclose(s);
			buf[n] = 0;
			char *p = strrchr(buf, ')');
			if (!p || p[1] == 0 || p[2] == 'Z' || p[2] == 'X')
				break;
			usleep(1000);
		}
	}
	return report(t0, ns(), &ru, *status);
}

int main(int argc, char **argv)
{
	int status;

	if (argc < 2) {
		fprintf(stderr, "usage: bench-time PROGRAM [ARGS...] | --seq STEP [';;' STEP]...\n");
		return 2;
	}
	if (strcmp(argv[1], "--seq") != 0)
		return run(argv + 1, &status);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
		perror("bench-time: prctl(PR_SET_CHILD_SUBREAPER)");
		return 125;
	}
	for (int i = 2; i < argc;) {
		int end = i;
		while (end < argc && strcmp(argv[end], ";;") != 0)
			end++;
		argv[end < argc ? end : argc] = NULL;
		int r;
		if (end - i == 2 && strcmp(argv[i], "--wait") == 0)
			r = wait_for(argv[i + 1], &status);
		else if (end > i)
			r = run(argv + i, &status);
		else
			r = (fprintf(stderr, "bench-time: an empty step\n"), 2);
		if (r != 0)
			return r;
		if (status != 0)
			break;
		i = end + 1;
	}
	return 0;
}
